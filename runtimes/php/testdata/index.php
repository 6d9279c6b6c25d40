<?php
// Handlers the runtime's tests call, one per form FC's PHP programming model has.
use RingCentral\Psr7\Response;

// A file-level variable: a global, as on FC.
$calls = [];

function initialize($context)
{
    global $calls;
    $calls[] = 'initialize';
    $GLOBALS['fcLogger']->info('initializing ' . $context['function']['name']);
}

function preStop($context)
{
    global $calls;
    $calls[] = 'preStop';
    $GLOBALS['fcLogger']->info('pre-stop called');
}

function preFreeze($context)
{
    global $calls;
    $calls[] = 'preFreeze';
}

function failingHook($context)
{
    throw new RuntimeException('the model is missing');
}

function echoEvent($event, $context)
{
    return $event;
}

function callsSoFar($event, $context)
{
    global $calls;
    return ['calls' => $calls];
}

function describeContext($event, $context)
{
    return $context;
}

function logs($event, $context)
{
    $logger = $GLOBALS['fcLogger'];
    $logger->info('logger line');
    $logger->warning('placeholder {name}', ['name' => 'filled']);
    echo "echoed line\n";
    return 'logged';
}

function divide($a, $b)
{
    if ($b === 0) {
        throw new DivisionByZeroError('division by zero');
    }
    return intdiv($a, $b);
}

function fails($event, $context)
{
    return divide(1, 0);
}

/** Holds up PHP's own teardown after exit(): the runtime ends the process before it. */
class SlowToDestroy
{
    public function __destruct()
    {
        sleep(30);
    }
}

function fatal($event, $context)
{
    $GLOBALS['slow'] = new SlowToDestroy();
    register_shutdown_function(function () {
        echo "the function's own shutdown function ran\n";
    });
    exit(3);
}

function httpEvent($event, $context)
{
    return ['statusCode' => 200, 'headers' => ['content-type' => 'application/json'], 'body' => $event];
}

function httpResponse($event, $context)
{
    $request = json_decode($event, true);
    return [
        'statusCode' => 201,
        'headers' => ['x-custom' => 'yes'],
        'body' => base64_encode("\0binary " . $request['rawPath']),
        'isBase64Encoded' => true,
    ];
}

function httpJsonString($event, $context)
{
    return json_encode(['statusCode' => 203, 'body' => 'from json']);
}

function httpPlain($event, $context)
{
    return 'just a body';
}

function fc2Http($request, $context)
{
    $body = $request->getBody()->getContents();
    return new Response(
        202,
        ['x-path' => $request->getAttribute('path'), 'x-many' => ['a', 'b']],
        'method=' . $request->getMethod() . ' query=' . json_encode($request->getQueryParams())
            . ' body=' . $body . ' fn=' . $context['function']['name']
            . ' type=' . $request->getHeaderLine('content-type')
            . ' uri=' . $request->getAttribute('requestURI')
    );
}
