<?php
// The part of RingCentral\Psr7 (PSR-7 HTTP messages) that FC's PHP runtime ships and FC 2.0's HTTP functions
// use: the ServerRequest they are given and the Response they return. Loaded only when the code brings no
// copy of its own (bootstrap.php's autoloader comes after Composer's).

namespace RingCentral\Psr7;

/** A body held in memory. */
class Stream
{
    private $data;
    private $position = 0;

    public function __construct($data = '')
    {
        $this->data = (string) $data;
    }

    public function __toString()
    {
        return $this->data;
    }

    public function getContents()
    {
        $rest = (string) substr($this->data, $this->position);
        $this->position = strlen($this->data);
        return $rest;
    }

    public function read($length)
    {
        $part = (string) substr($this->data, $this->position, $length);
        $this->position += strlen($part);
        return $part;
    }

    public function write($string)
    {
        $this->data = substr($this->data, 0, $this->position) . $string;
        $this->position = strlen($this->data);
        return strlen($string);
    }

    public function getSize() { return strlen($this->data); }
    public function tell() { return $this->position; }
    public function eof() { return $this->position >= strlen($this->data); }
    public function rewind() { $this->position = 0; }
    public function seek($offset, $whence = SEEK_SET) { $this->position = $whence === SEEK_END ? strlen($this->data) + $offset : ($whence === SEEK_CUR ? $this->position + $offset : $offset); }
    public function isReadable() { return true; }
    public function isWritable() { return true; }
    public function isSeekable() { return true; }
    public function close() {}
    public function detach() { return null; }
    public function getMetadata($key = null) { return $key === null ? [] : null; }
}

/** A message's headers, names kept as given and matched without case, and its body. */
abstract class Message
{
    protected $headers = [];
    protected $body;
    protected $protocol = '1.1';

    protected function setHeaders(array $headers)
    {
        $this->headers = [];
        foreach ($headers as $name => $value) {
            $this->headers[(string) $name] = array_map('strval', is_array($value) ? array_values($value) : [$value]);
        }
    }

    private function nameOf($name)
    {
        foreach (array_keys($this->headers) as $given) {
            if (strcasecmp($given, $name) === 0) {
                return $given;
            }
        }
        return null;
    }

    public function getProtocolVersion() { return $this->protocol; }
    public function getHeaders() { return $this->headers; }
    public function hasHeader($name) { return $this->nameOf($name) !== null; }

    public function getHeader($name)
    {
        $given = $this->nameOf($name);
        return $given === null ? [] : $this->headers[$given];
    }

    public function getHeaderLine($name) { return implode(', ', $this->getHeader($name)); }
    public function getBody() { return $this->body; }

    public function withHeader($name, $value)
    {
        $new = $this->withoutHeader($name);
        $new->headers[$name] = array_map('strval', is_array($value) ? array_values($value) : [$value]);
        return $new;
    }

    public function withAddedHeader($name, $value)
    {
        $new = clone $this;
        $given = $new->nameOf($name) ?? $name;
        foreach (is_array($value) ? $value : [$value] as $one) {
            $new->headers[$given][] = (string) $one;
        }
        return $new;
    }

    public function withoutHeader($name)
    {
        $new = clone $this;
        $given = $new->nameOf($name);
        if ($given !== null) {
            unset($new->headers[$given]);
        }
        return $new;
    }

    public function withBody($body)
    {
        $new = clone $this;
        $new->body = $body;
        return $new;
    }

    public function withProtocolVersion($version)
    {
        $new = clone $this;
        $new->protocol = $version;
        return $new;
    }
}

class Response extends Message
{
    private $status;
    private $reason;

    public function __construct($status = 200, array $headers = [], $body = null, $version = '1.1', $reason = null)
    {
        $this->status = (int) $status;
        $this->setHeaders($headers);
        $this->body = $body instanceof Stream ? $body : new Stream($body === null ? '' : $body);
        $this->protocol = $version;
        $this->reason = $reason === null ? '' : (string) $reason;
    }

    public function getStatusCode() { return $this->status; }
    public function getReasonPhrase() { return $this->reason; }

    public function withStatus($code, $reasonPhrase = '')
    {
        $new = clone $this;
        $new->status = (int) $code;
        $new->reason = (string) $reasonPhrase;
        return $new;
    }
}

/** A request's URI: what FC 2.0's request gives of it (no scheme or host: FC's runtime has none). */
class Uri
{
    private $path;
    private $query;

    public function __construct($target)
    {
        $parts = explode('?', (string) $target, 2);
        $this->path = $parts[0];
        $this->query = $parts[1] ?? '';
    }

    public function getPath() { return $this->path; }
    public function getQuery() { return $this->query; }
    public function getScheme() { return ''; }
    public function getHost() { return ''; }
    public function getPort() { return null; }
    public function getFragment() { return ''; }
    public function __toString() { return $this->path . ($this->query === '' ? '' : '?' . $this->query); }
}

class ServerRequest extends Message
{
    private $method;
    private $target;
    private $attributes;
    private $queryParams;
    private $parsedBody;

    public function __construct($method, $target, array $headers = [], $body = '', array $attributes = [], array $queryParams = [])
    {
        $this->method = (string) $method;
        $this->target = (string) $target;
        $this->setHeaders($headers);
        $this->body = new Stream($body);
        $this->attributes = $attributes;
        $this->queryParams = $queryParams;
    }

    public function getMethod() { return $this->method; }
    public function getRequestTarget() { return $this->target; }
    public function getUri() { return new Uri($this->target); }
    public function getQueryParams() { return $this->queryParams; }
    public function getServerParams() { return []; }
    public function getCookieParams() { return []; }
    public function getUploadedFiles() { return []; }
    public function getParsedBody() { return $this->parsedBody; }
    public function getAttributes() { return $this->attributes; }
    public function getAttribute($name, $default = null) { return $this->attributes[$name] ?? $default; }

    public function withAttribute($name, $value)
    {
        $new = clone $this;
        $new->attributes[$name] = $value;
        return $new;
    }

    public function withParsedBody($data)
    {
        $new = clone $this;
        $new->parsedBody = $data;
        return $new;
    }

    public function withQueryParams(array $query)
    {
        $new = clone $this;
        $new->queryParams = $query;
        return $new;
    }
}
