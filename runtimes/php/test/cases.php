<?php
// The cases bootstrap_test.php runs.

test('the event is the body and the return value the response', function () {
    $r = new Runtime('index.echoEvent');
    list($status, $headers, $body) = $r->invoke('{"prompt":"cat"}');
    same($status, 200, 'status');
    same($body, '{"prompt":"cat"}', 'body');
    check(!isset($headers['x-fc-error-type']), 'no error type');
    check(!isset($headers['connection']), 'the connection is kept for the next request');
    // A chunked body arrives whole.
    same($r->request('POST', '/invoke', ['body' => 'in chunks', 'chunked' => true])[2], 'in chunks', 'chunked');
    $r->stop();
});

test("the context carries FC's fields", function () {
    $r = new Runtime('index.describeContext');
    $context = json_decode($r->invoke()[2], true);
    same($context['requestId'], RID, 'requestId');
    same($context['function'], ['name' => 'fn', 'handler' => 'index.handler', 'memory' => 512, 'timeout' => 7,
        'initializer' => 'index.initialize', 'initializationTimeout' => 4], 'function');
    same($context['service']['qualifier'], 'LATEST', 'qualifier');
    same($context['region'], 'cn-hangzhou', 'region');
    same($context['accountId'], '1234', 'accountId');
    same(array_keys($context['credentials']), ['accessKeyId', 'accessKeySecret', 'securityToken'], 'credentials');
    $r->stop();
});

test('an error is answered as FC does, and the runtime lives on', function () {
    $r = new Runtime('index.fails');
    list($status, $headers, $body) = $r->invoke();
    same($status, 200, 'status');
    same($headers['x-fc-error-type'], 'UnhandledInvocationError', 'error type header');
    $error = json_decode($body, true);
    same($error['errorType'], 'DivisionByZeroError', 'errorType');
    same($error['errorMessage'], 'division by zero', 'errorMessage');
    $trace = implode("\n", $error['stackTrace']);
    check(strpos($trace, 'index.php') !== false && strpos($trace, 'divide()') !== false, "the user's frames: $trace");
    check(strpos($trace, 'runtime.php') === false && strpos($trace, 'bootstrap.php') === false, "no runtime frames: $trace");
    same($r->invoke()[0], 200, 'the same process answers again');
    $r->stop();
});

test('a missing file or function, or a file that does not load, says which', function () {
    $cases = [
        ['nofile.handler', "file 'nofile.php' not found", 'HandlerError'],
        ['index.nofunction', "has no function 'nofunction'", 'HandlerError'],
        ['nodot', 'is not FILE.FUNCTION', 'HandlerError'],
        ['broken.handler', 'configuration is missing', 'LogicException'],
        ['syntax.handler', 'syntax error', 'ParseError'],
    ];
    foreach ($cases as list($handler, $expected, $type)) {
        $r = new Runtime($handler);
        foreach ([1, 2] as $time) {
            list(, $headers, $body) = $r->invoke();
            same($headers['x-fc-error-type'], 'UnhandledInvocationError', "$handler, call $time");
            $error = json_decode($body, true);
            check(strpos($error['errorMessage'], $expected) !== false, "$handler, call $time: {$error['errorMessage']}");
            same($error['errorType'], $type, "$handler's type");
        }
        $r->stop();
    }
});

test("log lines carry the request id in FC's format", function () {
    $r = new Runtime('index.logs');
    $r->invoke();
    $lines = explode("\n", $r->stop());
    $ts = '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z';
    same($lines[0], 'FC Invoke Start RequestId: ' . RID, 'start');
    check(preg_match('/^' . $ts . ' ' . RID . ' \[INFO\] logger line$/', $lines[1]) === 1, $lines[1]);
    check(preg_match('/^' . $ts . ' ' . RID . ' \[WARNING\] placeholder filled$/', $lines[2]) === 1, $lines[2]);
    same($lines[3], 'echoed line', 'echo');
    same($lines[4], 'FC Invoke End RequestId: ' . RID, 'end');
});

test('Initializer, PreFreeze and PreStop get the context, and share the globals of the file', function () {
    $r = new Runtime('index.callsSoFar', ['FCEMU_INITIALIZER' => 'index.initialize',
        'FCEMU_PRE_STOP' => 'index.preStop', 'FCEMU_PRE_FREEZE' => 'index.preFreeze']);
    same($r->request('POST', '/initialize', ['requestId' => 'r-init'])[0], 200, 'initialize');
    same($r->request('GET', '/pre-freeze')[0], 200, 'pre-freeze');
    same(json_decode($r->invoke()[2], true), ['calls' => ['initialize', 'preFreeze']], 'calls');
    same($r->request('GET', '/pre-stop', ['requestId' => 'r-stop'])[0], 200, 'pre-stop');
    $out = $r->stop();
    foreach (['FC Initialize Start RequestId: r-init', 'FC Initialize End RequestId: r-init',
        'FC PreStop Start RequestId: r-stop', 'FC PreStop End RequestId: r-stop'] as $line) {
        check(strpos($out, "$line\n") !== false, "$line in\n$out");
    }
    check(preg_match('/r-init \[INFO\] initializing fn/', $out) === 1, $out);
    check(preg_match('/r-stop \[INFO\] pre-stop called/', $out) === 1, $out);
});

test('a hook that fails is a failure with its error; one without a handler is 404', function () {
    $r = new Runtime('index.echoEvent', ['FCEMU_INITIALIZER' => 'index.failingHook']);
    list($status, $headers, $body) = $r->request('POST', '/initialize');
    same($status, 500, 'status');
    same($headers['x-fc-error-type'], 'InitializeError', 'error type');
    same(json_decode($body, true)['errorMessage'], 'the model is missing', 'message');
    same($r->request('GET', '/pre-stop')[0], 404, 'no PreStop');
    $r->stop();
});

test('the readiness probe is answered without running the handler', function () {
    $r = new Runtime('index.logs');
    list($status, , $body) = $r->request('OPTIONS', '*');
    same([$status, $body], [200, ''], 'probe');
    $out = $r->stop();
    check(strpos($out, 'FC Invoke Start') === false && strpos($out, 'logger line') === false, $out);
});

test('an idle kept-open connection holds up no request on another', function () {
    $r = new Runtime('index.echoEvent');
    same($r->invoke('first')[2], 'first', 'first connection');
    $r->reconnect();
    same($r->invoke('second')[2], 'second', 'second connection, the first still open');
    $r->stop();
});

test('a function that ends the process is answered before it ends', function () {
    $r = new Runtime('index.fatal');
    list($status, $headers, $body) = $r->invoke();
    same([$status, $headers['x-fc-error-type']], [200, 'UnhandledInvocationError'], 'answer');
    same(json_decode($body, true)['errorType'], 'ProcessExited', 'type');
    // What tells fcemu not to freeze the instance while its process ends.
    same($headers['connection'] ?? null, 'close', 'connection');
    // At once, not after PHP's teardown (an object's destructor here sleeps 30 s): an instance must not be
    // frozen with its process half-ended.
    $deadline = microtime(true) + 5;
    while (!$r->exited() && microtime(true) < $deadline) {
        usleep(20000);
    }
    check($r->exited(), 'the process ended');
    $out = $r->stop();
    $own = strpos($out, "the function's own shutdown function ran");
    check($own !== false && $own < strpos($out, 'FC Invoke End RequestId: ' . RID), "its shutdown functions ran first: $out");
});

test('FC 3.0 HTTP triggers get the HTTP trigger event', function () {
    $r = new Runtime('index.httpEvent');
    list($status, , $body) = $r->request('POST', '/a/b?x=1&x=2&y=%20z', ['control' => '/http-invoke',
        'body' => 'hello', 'headers' => ['Content-Type' => 'text/plain', 'X-Custom' => 'v']]);
    same($status, 200, 'status');
    $event = json_decode($body, true);
    same($event['version'], 'v1', 'version');
    same($event['rawPath'], '/a/b', 'rawPath');
    same($event['queryParameters'], ['x' => '1,2', 'y' => ' z'], 'queryParameters');
    same([$event['body'], $event['isBase64Encoded']], ['hello', false], 'body');
    same($event['headers']['X-Custom'], 'v', 'headers keep their names');
    check(!isset($event['headers']['x-fc-request-id']), "FC's own headers are not the client's");
    same($event['requestContext']['http']['method'], 'POST', 'method');
    same($event['requestContext']['requestId'], RID, 'requestId');
    same($event['requestContext']['domainName'], 'fn.localhost', 'domainName');
    // Bytes that are not text come as base64.
    $binary = json_decode($r->request('POST', '/', ['control' => '/http-invoke', 'body' => "\xff\x00",
        'headers' => ['Content-Type' => 'application/octet-stream']])[2], true);
    same([$binary['body'], $binary['isBase64Encoded']], [base64_encode("\xff\x00"), true], 'binary body');
    $r->stop();

    $r = new Runtime('index.httpResponse');
    list($status, $headers, $body) = $r->request('GET', '/p', ['control' => '/http-invoke']);
    same([$status, $headers['x-custom'], $body], [201, 'yes', "\0binary /p"], 'a base64 response');
    $r->stop();
    $r = new Runtime('index.httpJsonString');
    list($status, , $body) = $r->request('GET', '/', ['control' => '/http-invoke']);
    same([$status, $body], [203, 'from json'], 'the response as JSON');
    $r->stop();
    $r = new Runtime('index.httpPlain');
    list($status, , $body) = $r->request('GET', '/', ['control' => '/http-invoke']);
    same([$status, $body], [200, 'just a body'], 'a plain body');
    $r->stop();
    $r = new Runtime('index.fails');
    list($status, $headers) = $r->request('GET', '/', ['control' => '/http-invoke']);
    same([$status, $headers['x-fc-error-type']], [502, 'UnhandledInvocationError'], 'an error');
    $r->stop();
});

test("FC 2.0 HTTP functions get a PSR-7 request and answer with RingCentral's Response", function () {
    $r = new Runtime('index.fc2Http', ['FCEMU_EDITION' => '2.0']);
    list($status, $headers, $body) = $r->request('PUT', '/x%20y?q=1', ['control' => '/http-invoke',
        'body' => 'sent', 'headers' => ['Content-Type' => 'text/plain']]);
    same($status, 202, 'status');
    same($headers['x-path'], '/x y', 'path');
    same($headers['x-many'], ['a', 'b'], 'a header of two values');
    same($body, 'method=PUT query={"q":"1"} body=sent fn=fn type=text/plain uri=/x%20y?q=1', 'body');
    $r->stop();
});
