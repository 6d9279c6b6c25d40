<?php
// The HTTP/1.1 server of fcemu's PHP runtime: one process, connections kept open (fcemu reuses them), one
// request handled at a time. A request is handed on only once it has arrived whole, so a client that sends
// slowly holds up no other.

/** One request as it arrived. */
final class FcemuRequest
{
    /** @var string */
    public $method;
    /** @var string the path and query, as sent */
    public $target;
    /** @var array<int, array{0: string, 1: string}> the headers in order, names as the client wrote them */
    public $rawHeaders;
    /** @var array<string, string> the headers by lower-case name, repeated ones joined by ", " */
    public $headers;
    /** @var string */
    public $body;
    /** @var string the client's address */
    public $clientIp;
    /** @var bool whether the connection closes after the answer */
    public $close;
    /** @var resource */
    public $stream;

    /** The answer; a HEAD request's has no body. */
    public function answer(int $status, array $headers, string $body): void
    {
        $head = "HTTP/1.1 $status " . fcemu_reason($status) . "\r\n";
        foreach ($headers as $name => $value) {
            foreach (is_array($value) ? $value : [$value] as $one) {
                // A value cannot end the header early.
                $head .= $name . ': ' . str_replace(["\r", "\n"], ' ', (string) $one) . "\r\n";
            }
        }
        $head .= 'content-length: ' . strlen($body) . "\r\n";
        if ($this->close) {
            $head .= "connection: close\r\n";
        }
        $out = $head . "\r\n" . ($this->method === 'HEAD' ? '' : $body);
        while ($out !== '') {
            $written = @fwrite($this->stream, $out);
            if ($written === false || $written === 0) {
                break; // the client went away
            }
            $out = (string) substr($out, $written);
        }
        if ($this->close) {
            @fclose($this->stream);
        }
    }
}

final class FcemuServer
{
    /** @var resource */
    private $listener;
    /** @var array<int, resource> */
    private $streams = [];
    /** @var array<int, string> what each connection sent that is not yet a whole request */
    private $buffers = [];
    /** @var array<int, string> */
    private $peers = [];

    public function __construct(int $port)
    {
        $listener = @stream_socket_server("tcp://0.0.0.0:$port", $errno, $message);
        if ($listener === false) {
            fwrite(STDERR, "fcemu runtime: cannot listen on port $port: $message\n");
            exit(1);
        }
        $this->listener = $listener;
    }

    /** New connections are refused from now on. */
    public function stopListening(): void
    {
        fclose($this->listener);
    }

    /** Waits for the next whole request on any connection. */
    public function next(): FcemuRequest
    {
        while (true) {
            foreach (array_keys($this->buffers) as $id) {
                $request = $this->take($id);
                if ($request !== null) {
                    return $request;
                }
            }
            $read = array_values($this->streams);
            $read[] = $this->listener;
            $write = null;
            $except = null;
            if (@stream_select($read, $write, $except, null) === false) {
                continue; // a signal
            }
            foreach ($read as $stream) {
                if ($stream === $this->listener) {
                    $this->accept();
                    continue;
                }
                $id = (int) $stream;
                $data = @fread($stream, 65536);
                if ($data === false || ($data === '' && feof($stream))) {
                    $this->drop($id);
                } else {
                    $this->buffers[$id] .= $data;
                }
            }
        }
    }

    private function accept(): void
    {
        $stream = @stream_socket_accept($this->listener, 0, $peer);
        if ($stream === false) {
            return;
        }
        $id = (int) $stream;
        $this->streams[$id] = $stream;
        $this->buffers[$id] = '';
        $colon = strrpos((string) $peer, ':');
        $this->peers[$id] = $colon === false ? (string) $peer : substr($peer, 0, $colon);
    }

    private function drop(int $id): void
    {
        if (isset($this->streams[$id])) {
            @fclose($this->streams[$id]);
        }
        unset($this->streams[$id], $this->buffers[$id], $this->peers[$id]);
    }

    /** The first whole request in connection `id`'s buffer, taken out of it; null while it is not whole. */
    private function take(int $id): ?FcemuRequest
    {
        $buffer = $this->buffers[$id];
        $end = strpos($buffer, "\r\n\r\n");
        if ($end === false) {
            return null;
        }
        $lines = explode("\r\n", substr($buffer, 0, $end));
        $start = explode(' ', array_shift($lines));
        if (count($start) !== 3) {
            $this->drop($id); // not HTTP: nothing can be answered on it
            return null;
        }
        $request = new FcemuRequest();
        list($request->method, $request->target, $version) = $start;
        $request->rawHeaders = [];
        $request->headers = [];
        foreach ($lines as $line) {
            $colon = strpos($line, ':');
            if ($colon === false) {
                continue;
            }
            $name = substr($line, 0, $colon);
            $value = trim(substr($line, $colon + 1));
            $request->rawHeaders[] = [$name, $value];
            $key = strtolower($name);
            $request->headers[$key] = isset($request->headers[$key])
                ? $request->headers[$key] . ', ' . $value : $value;
        }
        $rest = (string) substr($buffer, $end + 4);
        $chunked = stripos($request->headers['transfer-encoding'] ?? '', 'chunked') !== false;
        $body = $chunked ? fcemu_dechunk($rest) : fcemu_fixed($rest, (int) ($request->headers['content-length'] ?? '0'));
        if ($body === null) {
            return null;
        }
        list($request->body, $used) = $body;
        $this->buffers[$id] = (string) substr($rest, $used);
        $connection = strtolower($request->headers['connection'] ?? '');
        $request->close = $version === 'HTTP/1.0' ? $connection !== 'keep-alive' : $connection === 'close';
        $request->clientIp = $this->peers[$id];
        $request->stream = $this->streams[$id];
        if ($request->close) {
            // Answered and closed by the request; nothing more is read from it.
            unset($this->streams[$id], $this->buffers[$id], $this->peers[$id]);
        }
        return $request;
    }
}

/** A body of `length` bytes at the start of `data`: [body, bytes used], or null while it is not all there. */
function fcemu_fixed(string $data, int $length): ?array
{
    return strlen($data) < $length ? null : [(string) substr($data, 0, $length), $length];
}

/** A chunked body at the start of `data`: [body, bytes used], or null while it is not all there. */
function fcemu_dechunk(string $data): ?array
{
    $body = '';
    $at = 0;
    while (true) {
        $eol = strpos($data, "\r\n", $at);
        if ($eol === false) {
            return null;
        }
        $size = hexdec(trim(explode(';', substr($data, $at, $eol - $at))[0]));
        $at = $eol + 2;
        if ($size === 0) {
            // Trailers, up to the blank line that ends the message.
            $end = strpos($data, "\r\n", $at);
            while ($end !== false && $end !== $at) {
                $at = $end + 2;
                $end = strpos($data, "\r\n", $at);
            }
            return $end === false ? null : [$body, $end + 2];
        }
        if (strlen($data) < $at + $size + 2) {
            return null;
        }
        $body .= substr($data, $at, (int) $size);
        $at += (int) $size + 2;
    }
}

function fcemu_reason(int $status): string
{
    $reasons = [200 => 'OK', 201 => 'Created', 204 => 'No Content', 301 => 'Moved Permanently', 302 => 'Found',
        304 => 'Not Modified', 400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden',
        404 => 'Not Found', 500 => 'Internal Server Error', 502 => 'Bad Gateway', 503 => 'Service Unavailable'];
    return $reasons[$status] ?? 'Status';
}
