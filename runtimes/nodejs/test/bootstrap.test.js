'use strict';
// Tests of fcemu's Node.js runtime: the real bootstrap.js as a process, driven over HTTP as fcemu drives it.
// Run: node --test runtimes/nodejs/test/

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { test } = require('node:test');

const BOOTSTRAP = path.join(__dirname, '..', 'bootstrap.js');
const CODE = path.join(__dirname, '..', 'testdata') + '/';
const RID = '1-6650f0a0-0a1b2c3d-4e5f60718293';

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** bootstrap.js in a process of its own, with the environment fcemu gives a container. */
async function startRuntime(t, handler, env = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [BOOTSTRAP], {
    env: {
      ...process.env, FC_FUNC_CODE_PATH: CODE, FC_CUSTOM_LISTEN_PORT: String(port), FC_FUNCTION_HANDLER: handler,
      FC_FUNCTION_NAME: 'fn', FC_REGION: 'cn-hangzhou', FC_ACCOUNT_ID: '1234', ...env,
    },
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.after(() => child.kill());
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the runtime did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  return {
    request(method, target, { body = '', control, requestId = RID, headers = {} } = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1', port, method, path: target, agent,
          headers: {
            'x-fc-request-id': requestId, 'x-fc-function-name': 'fn', 'x-fc-function-memory': '512',
            'x-fc-function-timeout': '7', 'x-fc-function-handler': 'index.handler',
            'x-fc-function-initializer': 'index.initialize', 'x-fc-initialization-timeout': '4',
            'x-fc-region': 'cn-hangzhou', 'x-fc-account-id': '1234', 'x-fc-qualifier': 'LATEST',
            'x-fc-version-id': 'LATEST', 'x-fc-control-path': control || target, ...headers,
          },
        }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    invoke(event = '') {
      return this.request('POST', '/invoke', { body: event });
    },
    async stop() {
      agent.destroy();
      child.kill();
      await exited;
      return output;
    },
  };
}

test('the event is the body and the return value the response, in both handler forms', async (t) => {
  for (const handler of ['index.echoCallback', 'index.echoAsync']) {
    const r = await startRuntime(t, handler);
    const { status, headers, body } = await r.invoke('{"prompt":"cat"}');
    assert.equal(status, 200);
    assert.equal(body.toString(), '{"prompt":"cat"}');
    assert.equal(headers['x-fc-error-type'], undefined);
  }
});

test('the context carries FC\'s fields', async (t) => {
  const r = await startRuntime(t, 'index.describeContext');
  const context = JSON.parse((await r.invoke()).body);
  assert.equal(context.requestId, RID);
  assert.deepEqual(context.function, {
    name: 'fn', handler: 'index.handler', memory: 512, timeout: 7, initializer: 'index.initialize',
    initializationTimeout: 4,
  });
  assert.equal(context.service.qualifier, 'LATEST');
  assert.equal(context.region, 'cn-hangzhou');
  assert.equal(context.accountId, '1234');
  assert.deepEqual(Object.keys(context.credentials).sort(), ['accessKeyId', 'accessKeySecret', 'securityToken']);
});

test('an error is answered as FC does, and the runtime lives on', async (t) => {
  const r = await startRuntime(t, 'index.fails');
  const { status, headers, body } = await r.invoke();
  assert.equal(status, 200);
  assert.equal(headers['x-fc-error-type'], 'UnhandledInvocationError');
  const error = JSON.parse(body);
  assert.equal(error.errorType, 'RangeError');
  assert.equal(error.errorMessage, 'division by zero');
  assert.ok(error.stackTrace.some((l) => l.includes('divide') && l.includes('index.js')), error.stackTrace);
  assert.ok(!error.stackTrace.some((l) => l.includes('bootstrap.js') || l.includes('node:internal')), error.stackTrace);
  assert.equal((await r.invoke()).status, 200, 'the same process answers again');

  const c = await startRuntime(t, 'index.failsCallback');
  const e = JSON.parse((await c.invoke()).body);
  assert.deepEqual([e.errorType, e.errorMessage], ['TypeError', 'bad event']);
});

test('a missing handler says which module or function', async (t) => {
  for (const [handler, expected] of [['nomodule.handler', "module 'nomodule' not found"],
    ['index.nofunction', "module 'index' has no function 'nofunction'"]]) {
    const r = await startRuntime(t, handler);
    const { headers, body } = await r.invoke();
    assert.equal(headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.match(JSON.parse(body).errorMessage, new RegExp(expected));
  }
});

test('an ES module handler (index.mjs) is loaded as FC\'s Node.js 18 and 20 load it', async (t) => {
  const r = await startRuntime(t, 'esm.handler');
  const { status, body } = await r.invoke('cat');
  assert.equal(status, 200);
  assert.equal(body.toString(), 'esm got cat');
});

test('a handler module whose own require fails names the missing module and where it was required', async (t) => {
  const r = await startRuntime(t, 'needsoss.handler', { FCEMU_SHIPPED_LIBRARIES: 'ali-oss,co' });
  const { headers, body } = await r.invoke();
  assert.equal(headers['x-fc-error-type'], 'UnhandledInvocationError');
  const message = JSON.parse(body).errorMessage;
  assert.match(message, /needsoss\.js requires 'ali-oss', which is not installed/);
  assert.match(message, /FC's Node.js runtime ships 'ali-oss'/);
  assert.doesNotMatch(message, /module 'needsoss' not found/);
});

test('log lines carry the request id in FC\'s format', async (t) => {
  const r = await startRuntime(t, 'index.logs');
  await r.invoke();
  const lines = (await r.stop()).split('\n');
  const ts = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
  assert.equal(lines[0], `FC Invoke Start RequestId: ${RID}`);
  assert.match(lines[1], new RegExp(`^${ts} ${RID} \\[verbose\\] console line$`));
  assert.match(lines[2], new RegExp(`^${ts} ${RID} \\[info\\] context logger line$`));
  assert.equal(lines[3], 'raw write');
  assert.equal(lines[4], `FC Invoke End RequestId: ${RID}`);
});

test('Initializer, PreFreeze and PreStop get the context', async (t) => {
  const r = await startRuntime(t, 'index.callsSoFar', {
    FCEMU_INITIALIZER: 'index.initialize', FCEMU_PRE_STOP: 'index.preStop', FCEMU_PRE_FREEZE: 'index.preFreeze',
  });
  assert.equal((await r.request('POST', '/initialize', { requestId: 'r-init' })).status, 200);
  assert.equal((await r.request('GET', '/pre-freeze')).status, 200);
  assert.deepEqual(JSON.parse((await r.invoke()).body).calls, ['initialize', 'preFreeze']);
  const stop = await r.request('GET', '/pre-stop', { requestId: 'r-stop' });
  assert.equal(stop.status, 200);
  const out = await r.stop();
  for (const line of ['FC Initialize Start RequestId: r-init', 'FC Initialize End RequestId: r-init',
    'FC PreStop Start RequestId: r-stop', 'FC PreStop End RequestId: r-stop']) {
    assert.ok(out.includes(`${line}\n`), `${line} in\n${out}`);
  }
  assert.match(out, /r-init \[verbose\] initializing fn/);
  assert.match(out, /r-stop \[verbose\] pre-stop called/);
});

test('the readiness probe is answered without running the handler', async (t) => {
  const r = await startRuntime(t, 'index.logs');
  const { status, body } = await r.request('OPTIONS', '*');
  assert.equal(status, 200);
  assert.equal(body.length, 0);
  const out = await r.stop();
  assert.ok(!out.includes('FC Invoke Start') && !out.includes('console line'), out);
});

test('a hook that fails is a failure with its error; one without a handler is 404', async (t) => {
  const r = await startRuntime(t, 'index.echoAsync', { FCEMU_INITIALIZER: 'index.failingHook' });
  const { status, headers, body } = await r.request('POST', '/initialize');
  assert.equal(status, 500);
  assert.equal(headers['x-fc-error-type'], 'InitializeError');
  assert.equal(JSON.parse(body).errorMessage, 'the model is missing');
  assert.equal((await r.request('GET', '/pre-stop')).status, 404);
});

test('FC 3.0 HTTP triggers get the HTTP trigger event', async (t) => {
  const r = await startRuntime(t, 'index.httpEvent');
  const { status, body } = await r.request('POST', '/api/items?a=1&b=x%20y&a=2', {
    body: '{"k": 1}', control: '/http-invoke', headers: { 'Content-Type': 'application/json', 'User-Agent': 't' },
  });
  assert.equal(status, 200);
  const event = JSON.parse(body);
  assert.equal(event.version, 'v1');
  assert.equal(event.rawPath, '/api/items');
  assert.deepEqual(event.queryParameters, { a: '1,2', b: 'x y' });
  assert.equal(event.body, '{"k": 1}');
  assert.equal(event.isBase64Encoded, false);
  assert.equal(event.headers['Content-Type'], 'application/json');
  assert.ok(!Object.keys(event.headers).some((k) => k.toLowerCase().startsWith('x-fc-')));
  assert.equal(event.requestContext.http.method, 'POST');
  assert.equal(event.requestContext.http.userAgent, 't');
  assert.equal(event.requestContext.requestId, RID);

  const bin = JSON.parse((await r.request('PUT', '/bin', {
    body: Buffer.from([0xff, 0, 1]), control: '/http-invoke', headers: { 'Content-Type': 'application/octet-stream' },
  })).body);
  assert.equal(bin.isBase64Encoded, true);
  assert.deepEqual(Buffer.from(bin.body, 'base64'), Buffer.from([0xff, 0, 1]));
});

test('a body without a content type is text when it is UTF-8', async (t) => {
  const r = await startRuntime(t, 'index.httpEvent');
  const text = JSON.parse((await r.request('POST', '/', { body: 'héllo', control: '/http-invoke' })).body);
  assert.deepEqual([text.body, text.isBase64Encoded], ['héllo', false]);
  const bin = JSON.parse((await r.request('POST', '/', { body: Buffer.from([0xff, 0xfe]), control: '/http-invoke' })).body);
  assert.deepEqual([bin.body, bin.isBase64Encoded], ['//4=', true]);
});

test('the response object becomes the response; a plain value is the body; an error is 502', async (t) => {
  const r = await startRuntime(t, 'index.httpResponse');
  const res = await r.request('GET', '/pic', { control: '/http-invoke' });
  assert.equal(res.status, 201);
  assert.equal(res.headers['x-custom'], 'yes');
  assert.deepEqual(res.body, Buffer.concat([Buffer.from([0]), Buffer.from('binary /pic')]));

  const plain = await (await startRuntime(t, 'index.httpPlain')).request('GET', '/', { control: '/http-invoke' });
  assert.deepEqual([plain.status, plain.body.toString()], [200, 'just a body']);

  const failed = await (await startRuntime(t, 'index.fails')).request('GET', '/', { control: '/http-invoke' });
  assert.deepEqual([failed.status, failed.headers['x-fc-error-type']], [502, 'UnhandledInvocationError']);
});

test('FC 2.0 HTTP functions get (request, response, context)', async (t) => {
  const r = await startRuntime(t, 'index.fc2Http', { FCEMU_EDITION: '2.0' });
  const { status, headers, body } = await r.request('POST', '/a%20b?x=1', { body: 'payload', control: '/http-invoke' });
  assert.equal(status, 202);
  assert.equal(headers['x-path'], '/a b');
  assert.equal(body.toString(), 'method=POST query={"x":"1"} body=payload fn=fn');
});
