<?php
// Tests of fcemu's PHP runtime: the real bootstrap.php as a process, driven over HTTP as fcemu drives it.
// Run: php runtimes/php/test/bootstrap_test.php (it prints each test and exits 1 if any failed).

const BOOTSTRAP = __DIR__ . '/../bootstrap.php';
const CODE = __DIR__ . '/../testdata/';
const RID = '1-6650f0a0-0a1b2c3d-4e5f60718293';

/** bootstrap.php in a process of its own, with the environment fcemu gives a container. */
final class Runtime
{
    public $port;
    private $process;
    private $log;
    private $connection;
    /** @var Runtime[] the processes still running, stopped when the tests end whatever they did */
    public static $running = [];

    public function __construct(string $handler, array $env = [])
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $this->port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $this->log = tempnam(sys_get_temp_dir(), 'fcemu-php-test');
        $env = array_merge(getenv(), [
            'FC_FUNC_CODE_PATH' => CODE, 'FC_CUSTOM_LISTEN_PORT' => (string) $this->port,
            'FC_FUNCTION_HANDLER' => $handler, 'FC_FUNCTION_NAME' => 'fn', 'FC_REGION' => 'cn-hangzhou',
            'FC_ACCOUNT_ID' => '1234',
        ], $env);
        $this->process = proc_open([PHP_BINARY, BOOTSTRAP], [0 => ['file', '/dev/null', 'r'],
            1 => ['file', $this->log, 'a'], 2 => ['file', $this->log, 'a']], $pipes, null, $env);
        $deadline = microtime(true) + 10;
        while (($c = @stream_socket_client("tcp://127.0.0.1:{$this->port}", $errno, $error, 1)) === false) {
            if (microtime(true) > $deadline || !proc_get_status($this->process)['running']) {
                throw new Exception('the runtime did not start: ' . file_get_contents($this->log));
            }
            usleep(20000);
        }
        $this->connection = $c;
        self::$running[spl_object_id($this)] = $this;
    }

    /** One request on the kept-open connection: [status, headers by lower-case name, body]. */
    public function request(string $method, string $target, array $options = []): array
    {
        $body = $options['body'] ?? '';
        $headers = array_merge([
            'x-fc-request-id' => $options['requestId'] ?? RID, 'x-fc-function-name' => 'fn',
            'x-fc-function-memory' => '512', 'x-fc-function-timeout' => '7',
            'x-fc-function-handler' => 'index.handler', 'x-fc-function-initializer' => 'index.initialize',
            'x-fc-initialization-timeout' => '4', 'x-fc-region' => 'cn-hangzhou', 'x-fc-account-id' => '1234',
            'x-fc-qualifier' => 'LATEST', 'x-fc-version-id' => 'LATEST',
            'x-fc-control-path' => $options['control'] ?? $target, 'Host' => 'fn.localhost',
        ], $options['headers'] ?? []);
        $head = "$method $target HTTP/1.1\r\n";
        foreach ($headers as $name => $value) {
            if ($value !== null) {
                $head .= "$name: $value\r\n";
            }
        }
        $head .= empty($options['chunked']) ? 'content-length: ' . strlen($body) . "\r\n\r\n" . $body
            : "transfer-encoding: chunked\r\n\r\n" . dechex(strlen($body)) . "\r\n$body\r\n0\r\n\r\n";
        fwrite($this->connection, $head);
        return $this->response($method);
    }

    public function invoke(string $event = ''): array
    {
        return $this->request('POST', '/invoke', ['body' => $event]);
    }

    /** A second connection, as fcemu opens one while another stays idle. */
    public function reconnect(): void
    {
        $this->connection = stream_socket_client("tcp://127.0.0.1:{$this->port}");
    }

    private function response(string $method): array
    {
        $status = (int) explode(' ', (string) fgets($this->connection))[1];
        $headers = [];
        while (($line = fgets($this->connection)) !== false && rtrim($line) !== '') {
            list($name, $value) = explode(':', rtrim($line), 2);
            $headers[strtolower($name)][] = trim($value);
        }
        $length = $method === 'HEAD' ? 0 : (int) ($headers['content-length'][0] ?? 0);
        $body = '';
        while (strlen($body) < $length && !feof($this->connection)) {
            $body .= fread($this->connection, $length - strlen($body));
        }
        $headers = array_map(function ($v) { return count($v) === 1 ? $v[0] : $v; }, $headers);
        return [$status, $headers, $body];
    }

    /** Stops the process; everything it printed. */
    public function stop(): string
    {
        unset(self::$running[spl_object_id($this)]);
        proc_terminate($this->process);
        proc_close($this->process);
        $out = (string) file_get_contents($this->log);
        unlink($this->log);
        return $out;
    }

    public function exited(): bool
    {
        return !proc_get_status($this->process)['running'];
    }
}

$tests = [];
function test(string $name, callable $body): void
{
    $GLOBALS['tests'][$name] = $body;
}

function check(bool $ok, string $what): void
{
    if (!$ok) {
        throw new Exception($what);
    }
}

function same($actual, $expected, string $what = ''): void
{
    check($actual === $expected, "$what: expected " . var_export($expected, true) . ', got ' . var_export($actual, true));
}

require __DIR__ . '/cases.php';

$failed = 0;
foreach ($tests as $name => $body) {
    try {
        $body();
        echo "ok $name\n";
    } catch (Throwable $e) {
        $failed++;
        echo "FAIL $name\n  " . $e->getMessage() . "\n  at " . $e->getFile() . ':' . $e->getLine() . "\n";
    }
}
foreach (Runtime::$running as $runtime) {
    $runtime->stop();
}
echo count($tests) - $failed . ' passed, ' . $failed . " failed\n";
exit($failed === 0 ? 0 : 1);
