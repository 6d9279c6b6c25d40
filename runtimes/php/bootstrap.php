<?php
// fcemu's runtime for FC's PHP built-in runtimes (php7.2, php8.x), on php-cli.
//
// It implements FC's PHP programming model on the HTTP contract fcemu speaks to every instance:
//   POST /invoke      an event: function handler($event, $context), $event the payload as a string
//   any other path    an HTTP trigger request (x-fc-control-path: /http-invoke): FC 3.0 calls the handler with
//                     the HTTP trigger event (a JSON string) and turns what it returns,
//                     ['statusCode' => ..., 'headers' => ..., 'body' => ..., 'isBase64Encoded' => ...] (or
//                     that as JSON), into the response; FC 2.0 calls handler($request, $context) with a PSR-7
//                     request and sends the RingCentral\Psr7\Response it returns
//   POST /initialize  the Initializer: initializer($context)
//   GET /pre-stop     PreStop: preStop($context)
//   GET /pre-freeze   FC 2.0's PreFreeze
//
// One PHP process serves one request at a time, as FC's PHP runtime does. A handler `index.handler` is the
// function `handler` of index.php in the code folder (FC_FUNC_CODE_PATH); each file is loaded once, in the
// global scope, so its variables are globals for its functions as on FC. FC's logger is
// $GLOBALS['fcLogger']. Written to PHP 7.2's syntax, so an image with an older PHP runs it too.

require __DIR__ . '/server.php';
require __DIR__ . '/runtime.php';

// Warnings and notices go to the function's log once (the CLI would print them twice: logged and shown).
ini_set('display_errors', 'stderr');
ini_set('log_errors', '0');
ini_set('html_errors', '0');
error_reporting(E_ALL);
// A layer's PHP files (FC puts layers under /opt) can be included by their names there.
set_include_path(get_include_path() . PATH_SEPARATOR . '/opt/php');
// FC's HTTP functions (FC 2.0) answer with RingCentral\Psr7\Response, which FC's runtime ships: fcemu's
// stand-in is loaded only when the code's own autoloader (Composer's, which goes first) has none.
spl_autoload_register(function ($class) {
    if (strpos($class, 'RingCentral\\Psr7\\') === 0) {
        require_once __DIR__ . '/psr7.php';
    }
});

$GLOBALS['fcLogger'] = new FcemuLogger();
$fcemuServer = new FcemuServer((int) (getenv('FC_CUSTOM_LISTEN_PORT') ?: '9000'));
// The files loaded, each with what its loading threw (null: it loaded).
$fcemuLoaded = [];
// Registered once shutdown begins, so that it runs after the function's own shutdown functions.
register_shutdown_function(function () {
    register_shutdown_function('fcemu_answer_fatal_error');
});

// The loop is at the file's top level so that the code's files are loaded in the global scope.
while (true) {
    $fcemuCall = fcemu_begin($fcemuServer->next());
    if ($fcemuCall === null) {
        continue;
    }
    $fcemuFile = $fcemuCall->file;
    if ($fcemuFile !== null && !array_key_exists($fcemuFile, $fcemuLoaded)) {
        try {
            require_once $fcemuFile;
            $fcemuLoaded[$fcemuFile] = null;
        } catch (Throwable $fcemuError) {
            // A file that threw half-way is not loaded again (its functions may be declared already): each
            // later call fails as the first did.
            $fcemuLoaded[$fcemuFile] = $fcemuError;
        }
    }
    fcemu_finish($fcemuCall, $fcemuFile === null ? null : $fcemuLoaded[$fcemuFile]);
}
