<?php
// FC's PHP programming model: which function a request calls, with what, and how its result or error is
// answered. bootstrap.php loads the function's file between fcemu_begin and fcemu_finish.

// Content types whose bodies an HTTP trigger event carries as text; the others are base64.
const FCEMU_TEXT_TYPES = ['text/', 'application/json', 'application/xml', 'application/javascript',
    'application/x-www-form-urlencoded', '+json', '+xml'];

const FCEMU_HOOKS = [
    '/initialize' => ['Initialize', 'FCEMU_INITIALIZER'],
    '/pre-stop' => ['PreStop', 'FCEMU_PRE_STOP'],
    '/pre-freeze' => ['PreFreeze', 'FCEMU_PRE_FREEZE'],
];

/** A handler name that names no function fcemu can call; answered as FC's runtime answers it. */
final class FcemuHandlerError extends Exception
{
}

/** FC's logger: `2024-05-01T08:00:00.123Z 1-6631f0a0-... [INFO] message`, with Monolog's levels. */
final class FcemuLogger
{
    /** @var string the request id the lines printed now belong to */
    public static $requestId = '';

    public function log($level, $message, array $context = []): void
    {
        // Monolog's placeholders: {name} is $context['name'].
        $replace = [];
        foreach ($context as $key => $value) {
            if (is_scalar($value) || (is_object($value) && method_exists($value, '__toString'))) {
                $replace['{' . $key . '}'] = (string) $value;
            }
        }
        $now = microtime(true);
        $stamp = gmdate('Y-m-d\TH:i:s', (int) $now) . sprintf('.%03dZ', (int) (($now - floor($now)) * 1000));
        $line = $stamp . ' ' . self::$requestId . ' [' . strtoupper((string) $level) . '] '
            . strtr((string) $message, $replace) . "\n";
        fwrite(STDOUT, $line);
    }

    public function debug($message, array $context = []): void { $this->log('debug', $message, $context); }
    public function info($message, array $context = []): void { $this->log('info', $message, $context); }
    public function notice($message, array $context = []): void { $this->log('notice', $message, $context); }
    public function warning($message, array $context = []): void { $this->log('warning', $message, $context); }
    public function error($message, array $context = []): void { $this->log('error', $message, $context); }
    public function critical($message, array $context = []): void { $this->log('critical', $message, $context); }
    public function alert($message, array $context = []): void { $this->log('alert', $message, $context); }
    public function emergency($message, array $context = []): void { $this->log('emergency', $message, $context); }
}

/** One call of the function's code for a request, begun (its Start line printed) and not yet answered. */
final class FcemuCall
{
    /** @var FcemuRequest */
    public $request;
    /** @var string FC's word for it in the Start and End lines: Invoke, Initialize, PreStop, PreFreeze */
    public $word;
    /** @var string 'event', 'http' or 'hook' */
    public $kind;
    /** @var string|null the file to load, null when the name was wrong */
    public $file;
    /** @var string */
    public $function = '';
    /** @var string */
    public $handler;
    /** @var array FC's $context */
    public $context;
    /** @var Throwable|null a wrong handler name */
    public $error;
}

/** The call in progress, for an answer should PHP stop mid-call (a fatal error, exit()). */
$GLOBALS['fcemuCurrentCall'] = null;

/** FC's $context for a request. */
function fcemu_context(array $headers): array
{
    $h = function ($name, $fallback = '') use ($headers) {
        return $headers[$name] ?? $fallback;
    };
    return [
        'requestId' => $h('x-fc-request-id'),
        'credentials' => [
            'accessKeyId' => $h('x-fc-access-key-id'),
            'accessKeySecret' => $h('x-fc-access-key-secret'),
            'securityToken' => $h('x-fc-security-token'),
        ],
        'function' => [
            'name' => $h('x-fc-function-name', (string) getenv('FC_FUNCTION_NAME')),
            'handler' => $h('x-fc-function-handler', (string) getenv('FC_FUNCTION_HANDLER')),
            'memory' => (int) $h('x-fc-function-memory', '0'),
            'timeout' => (int) $h('x-fc-function-timeout', '0'),
            'initializer' => $h('x-fc-function-initializer'),
            'initializationTimeout' => (int) $h('x-fc-initialization-timeout', '0'),
        ],
        'service' => [
            'name' => (string) getenv('FCEMU_SERVICE_NAME'),
            'logProject' => '',
            'logStore' => '',
            'qualifier' => $h('x-fc-qualifier', 'LATEST'),
            'versionId' => $h('x-fc-version-id', 'LATEST'),
        ],
        'region' => $h('x-fc-region', (string) getenv('FC_REGION')),
        'accountId' => $h('x-fc-account-id', (string) getenv('FC_ACCOUNT_ID')),
        'instanceId' => (string) getenv('FC_INSTANCE_ID'),
    ];
}

/**
 * Reads what a request asks for and prints its Start line; null when it is answered already (fcemu's
 * readiness probe, a hook that is not set).
 */
function fcemu_begin(FcemuRequest $request): ?FcemuCall
{
    if ($request->method === 'OPTIONS' && $request->target === '*') {
        // fcemu's readiness probe through a published port: the server is there, and no handler runs.
        $request->answer(200, [], '');
        return null;
    }
    $control = $request->headers['x-fc-control-path'] ?? '';
    $path = explode('?', $request->target, 2)[0];
    $call = new FcemuCall();
    $call->request = $request;
    $call->word = 'Invoke';
    $call->handler = (string) (getenv('FC_FUNCTION_HANDLER') ?: 'index.handler');
    $hook = FCEMU_HOOKS[$control] ?? ($control === '' ? (FCEMU_HOOKS[$path] ?? null) : null);
    if ($control === '/invoke' || ($control === '' && $path === '/invoke')) {
        $call->kind = 'event';
    } elseif ($hook !== null) {
        $call->kind = 'hook';
        $call->word = $hook[0];
        $call->handler = (string) getenv($hook[1]);
        if ($call->handler === '') {
            $request->answer(404, [], "no {$hook[0]} handler is set");
            return null;
        }
    } else {
        $call->kind = 'http';
    }
    $call->context = fcemu_context($request->headers);
    FcemuLogger::$requestId = $call->context['requestId'];
    fcemu_say("FC {$call->word} Start RequestId: {$call->context['requestId']}");
    $GLOBALS['fcemuCurrentCall'] = $call;
    $dot = strrpos($call->handler, '.');
    if ($dot === false || $dot === 0 || $dot === strlen($call->handler) - 1) {
        $call->error = new FcemuHandlerError("handler \"{$call->handler}\" is not FILE.FUNCTION, e.g. index.handler");
        return $call;
    }
    $module = substr($call->handler, 0, $dot);
    $call->function = substr($call->handler, $dot + 1);
    $code = (string) (getenv('FC_FUNC_CODE_PATH') ?: '/code/');
    $file = rtrim($code, '/') . '/' . $module . '.php';
    if (!is_file($file)) {
        $call->error = new FcemuHandlerError("file '$module.php' not found in $code (handler \"{$call->handler}\" needs it)");
        return $call;
    }
    $call->file = $file;
    return $call;
}

/** Calls the function (its file loaded, or `loadError` thrown loading it), answers, prints the End line. */
function fcemu_finish(FcemuCall $call, ?Throwable $loadError): void
{
    try {
        $error = $call->error ?? $loadError;
        if ($error !== null) {
            throw $error;
        }
        if (!function_exists($call->function)) {
            throw new FcemuHandlerError("{$call->file} has no function '{$call->function}' (handler \"{$call->handler}\")");
        }
        $answer = fcemu_call($call, $call->function);
    } catch (Throwable $e) {
        $body = fcemu_error_body($e);
        $GLOBALS['fcLogger']->error($body['errorType'] . ': ' . $body['errorMessage']
            . implode('', array_map(function ($l) { return "\n" . $l; }, $body['stackTrace'])));
        $status = ['event' => 200, 'http' => 502, 'hook' => 500][$call->kind];
        $type = $call->kind === 'hook' ? $call->word . 'Error' : 'UnhandledInvocationError';
        $answer = [$status, ['content-type' => 'application/json', 'x-fc-error-type' => $type], fcemu_json($body)];
    }
    fcemu_end($call, $answer);
}

/** The function called as the request asks: [status, headers, body]. */
function fcemu_call(FcemuCall $call, string $function): array
{
    $request = $call->request;
    switch ($call->kind) {
        case 'event':
            return [200, [], fcemu_bytes($function($request->body, $call->context))];
        case 'hook':
            $function($call->context);
            return [200, [], ''];
    }
    if (getenv('FCEMU_EDITION') === '2.0') {
        return fcemu_psr7_response($function(fcemu_psr7_request($request), $call->context));
    }
    $event = fcemu_json(fcemu_http_trigger_event($request, $call->context));
    return fcemu_http_trigger_response(fcemu_bytes($function($event, $call->context)));
}

function fcemu_end(FcemuCall $call, array $answer): void
{
    $GLOBALS['fcemuCurrentCall'] = null;
    fcemu_say("FC {$call->word} End RequestId: {$call->context['requestId']}");
    FcemuLogger::$requestId = '';
    list($status, $headers, $body) = $answer;
    $call->request->answer($status, $headers, $body);
}

/**
 * Should PHP stop during a call (a fatal error, exit()), its request is answered and the process ends at
 * once: fcemu freezes an instance as soon as its answer is in, and PHP's own teardown (destructors, modules)
 * would then be frozen half-way, with the port closed, until the next thaw. The port closes first, so that
 * fcemu finds the instance gone rather than placing a request on it.
 */
function fcemu_answer_fatal_error(): void
{
    $call = $GLOBALS['fcemuCurrentCall'];
    if ($call === null) {
        return;
    }
    $GLOBALS['fcemuServer']->stopListening();
    $last = error_get_last();
    $body = [
        'errorMessage' => $last === null ? 'the function ended the PHP process' : $last['message'],
        'errorType' => $last === null ? 'ProcessExited' : 'FatalError',
        'stackTrace' => $last === null ? [] : [$last['file'] . '(' . $last['line'] . ')'],
    ];
    $status = $call->kind === 'event' ? 200 : ($call->kind === 'http' ? 502 : 500);
    $type = $call->kind === 'hook' ? $call->word . 'Error' : 'UnhandledInvocationError';
    // `Connection: close` tells fcemu that the process ends: it does not freeze the instance.
    $call->request->close = true;
    fcemu_end($call, [$status, ['content-type' => 'application/json', 'x-fc-error-type' => $type], fcemu_json($body)]);
    // 9 is SIGKILL (its constant comes with pcntl); a PHP without posix (--runtime-image) ends as it does.
    if (function_exists('posix_kill')) {
        posix_kill(posix_getpid(), 9);
    }
}

function fcemu_say(string $line): void
{
    fwrite(STDOUT, $line . "\n");
}

function fcemu_json($value): string
{
    return (string) json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR);
}

/** What a handler returned, as a response body: a string as it is, anything else as JSON. */
function fcemu_bytes($value): string
{
    if ($value === null) {
        return '';
    }
    if (is_string($value)) {
        return $value;
    }
    if (is_object($value) && method_exists($value, '__toString') && !($value instanceof JsonSerializable)) {
        return (string) $value;
    }
    return fcemu_json($value);
}

/** FC's body for an error in a handler: message, type and stack trace (the runtime's own frames left out). */
function fcemu_error_body(Throwable $e): array
{
    if ($e instanceof FcemuHandlerError) {
        return ['errorMessage' => $e->getMessage(), 'errorType' => 'HandlerError', 'stackTrace' => []];
    }
    $stack = [$e->getFile() . '(' . $e->getLine() . ')'];
    foreach ($e->getTrace() as $frame) {
        $file = $frame['file'] ?? '';
        if ($file !== '' && dirname($file) === __DIR__) {
            continue;
        }
        $function = (isset($frame['class']) ? $frame['class'] . $frame['type'] : '') . $frame['function'] . '()';
        $stack[] = $file === '' ? $function : "$file({$frame['line']}): $function";
    }
    return ['errorMessage' => $e->getMessage(), 'errorType' => get_class($e), 'stackTrace' => $stack];
}

/** A query string's parameters, repeated names joined by "," as FC's HTTP trigger event has them. */
function fcemu_query(string $target): array
{
    $query = explode('?', $target, 2)[1] ?? '';
    $params = [];
    foreach ($query === '' ? [] : explode('&', $query) as $pair) {
        if ($pair === '') {
            continue;
        }
        $kv = explode('=', $pair, 2);
        $key = urldecode($kv[0]);
        $value = urldecode($kv[1] ?? '');
        $params[$key] = isset($params[$key]) ? $params[$key] . ',' . $value : $value;
    }
    return $params;
}

/** FC 3.0's HTTP trigger event for a request. */
function fcemu_http_trigger_event(FcemuRequest $request, array $context): array
{
    $path = explode('?', $request->target, 2)[0];
    $headers = [];
    foreach ($request->rawHeaders as list($name, $value)) {
        if (stripos($name, 'x-fc-') === 0) {
            continue;
        }
        $headers[$name] = isset($headers[$name]) ? $headers[$name] . ', ' . $value : $value;
    }
    $type = $request->headers['content-type'] ?? '';
    $text = $request->body === '' || $type === '';
    foreach (FCEMU_TEXT_TYPES as $textType) {
        $text = $text || strpos($type, $textType) !== false;
    }
    // Text when the client says so, or says nothing, and it is UTF-8; base64 otherwise.
    $text = $text && preg_match('//u', $request->body) === 1;
    $host = $request->headers['host'] ?? '';
    $now = microtime(true);
    return [
        'version' => 'v1',
        'rawPath' => $path,
        'headers' => (object) $headers,
        'queryParameters' => (object) fcemu_query($request->target),
        'body' => $text ? $request->body : base64_encode($request->body),
        'isBase64Encoded' => !$text,
        'requestContext' => [
            'accountId' => $context['accountId'],
            'domainName' => $host,
            'domainPrefix' => explode('.', $host)[0],
            'http' => [
                'method' => $request->method,
                'path' => $path,
                'protocol' => 'HTTP/1.1',
                'sourceIp' => $request->clientIp,
                'userAgent' => $request->headers['user-agent'] ?? '',
            ],
            'requestId' => $context['requestId'],
            'time' => gmdate('D, d M Y H:i:s \G\M\T', (int) $now),
            'timeEpoch' => (string) (int) ($now * 1000),
        ],
    ];
}

/** What an FC 3.0 handler returned for an HTTP trigger -> [status, headers, body]. */
function fcemu_http_trigger_response(string $returned): array
{
    $result = json_decode($returned, true);
    if (!is_array($result) || !array_key_exists('statusCode', $result)) {
        $json = is_array($result) && $returned !== '' && ($returned[0] === '{' || $returned[0] === '[');
        return [200, $json ? ['content-type' => 'application/json'] : [], $returned];
    }
    $body = $result['body'] ?? '';
    if (!empty($result['isBase64Encoded'])) {
        $body = (string) base64_decode((string) $body);
    } elseif (!is_string($body)) {
        $body = fcemu_json($body);
    }
    $headers = is_array($result['headers'] ?? null) ? $result['headers'] : [];
    return [(int) $result['statusCode'], $headers, $body];
}

/** FC 2.0's $request for an HTTP function: PSR-7's ServerRequest, with FC's path, requestURI and clientIP. */
function fcemu_psr7_request(FcemuRequest $request)
{
    $headers = [];
    foreach ($request->rawHeaders as list($name, $value)) {
        if (stripos($name, 'x-fc-') !== 0) {
            $headers[$name][] = $value;
        }
    }
    $path = explode('?', $request->target, 2)[0];
    return new RingCentral\Psr7\ServerRequest($request->method, $request->target, $headers, $request->body,
        ['path' => rawurldecode($path), 'requestURI' => $request->target, 'clientIP' => $request->clientIp],
        fcemu_query($request->target));
}

/** An FC 2.0 HTTP function's Response (any PSR-7 response) -> [status, headers, body]. */
function fcemu_psr7_response($response): array
{
    if (is_object($response) && method_exists($response, 'getStatusCode')) {
        return [(int) $response->getStatusCode(), $response->getHeaders(), (string) $response->getBody()];
    }
    return [200, [], fcemu_bytes($response)];
}
