'use strict';
// fcemu's runtime for FC's Node.js built-in runtimes (nodejs12 ... nodejs20).
//
// It implements FC's Node.js programming model on the HTTP contract fcemu speaks to every instance:
//   POST /invoke      an event: exports.handler = (event: Buffer, context, callback) or async (event, context)
//   any other path    an HTTP trigger request (x-fc-control-path: /http-invoke): FC 3.0 calls the handler with
//                     the HTTP trigger event and turns a returned {statusCode, headers, body, isBase64Encoded}
//                     into the response; FC 2.0 calls handler(request, response, context)
//   POST /initialize  the Initializer: initialize(context, callback) or async (context)
//   GET /pre-stop     PreStop: preStop(context, callback), its result ignored
//   GET /pre-freeze   FC 2.0's PreFreeze
//
// One request at a time, as FC's Node.js runtime serves them. The code is in /code (FC_FUNC_CODE_PATH); the
// handler names are `module.function`. Node's own modules only: it runs on any image with node.

const fs = require('fs');
const http = require('http');
const path = require('path');
const util = require('util');
const { Readable } = require('stream');
const { pathToFileURL } = require('url');

const CODE_DIR = process.env.FC_FUNC_CODE_PATH || '/code/';

// Content types whose bodies an HTTP trigger event carries as text; the others are base64.
const TEXT_TYPES = ['text/', 'application/json', 'application/xml', 'application/javascript',
  'application/x-www-form-urlencoded', '+json', '+xml'];

class HandlerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HandlerError';
  }
}

// Libraries FC's Node.js runtime ships that code uses without installing them (fcemu says which).
const SHIPPED_BY_FC = (process.env.FCEMU_SHIPPED_LIBRARIES || '').split(',').filter(Boolean);

/** The module a failed require or import could not find, from its message. */
function missingModule(e) {
  const found = /Cannot find (?:module|package) '([^']+)'/.exec(String(e && e.message));
  return found ? found[1] : null;
}

/**
 * `index.handler` -> the export `handler` of index.js (or index.mjs, an ES module, as FC's Node.js 18 and
 * 20 load it) in the code folder.
 */
async function loadHandler(name) {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) {
    throw new HandlerError(`handler "${name}" is not MODULE.FUNCTION, e.g. index.handler`);
  }
  const moduleName = name.slice(0, dot);
  const functionName = name.slice(dot + 1);
  const base = path.join(CODE_DIR, moduleName);
  const esm = !fs.existsSync(`${base}.js`) && fs.existsSync(`${base}.mjs`);
  let module;
  try {
    module = esm ? await import(pathToFileURL(`${base}.mjs`).href) : require(base);
  } catch (e) {
    if (e.code === 'ERR_REQUIRE_ESM') {
      module = await import(pathToFileURL(require.resolve(base)).href);
    } else if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') {
      const missing = missingModule(e) || '';
      if (missing === base || missing.startsWith(`${base}.`)) {
        throw new HandlerError(`module '${moduleName}' not found in ${CODE_DIR} (handler "${name}" needs ${moduleName}.js or ${moduleName}.mjs)`);
      }
      const from = (e.requireStack && e.requireStack[0]) || (esm ? `${base}.mjs` : `${base}.js`);
      const shipped = SHIPPED_BY_FC.includes(missing)
        ? ` FC's Node.js runtime ships '${missing}'; fcemu's does not.`
        : '';
      throw new HandlerError(`handler "${name}": ${from} requires '${missing}', which is not installed in ${CODE_DIR}node_modules, nor on NODE_PATH.${shipped} Add it to package.json and run \`fcemu build\` (or npm install in the code folder), or give it in a layer under nodejs/node_modules`);
    } else {
      throw e;
    }
  }
  const fn = module[functionName];
  if (typeof fn !== 'function') {
    throw new HandlerError(`module '${moduleName}' has no function '${functionName}' (handler "${name}")`);
  }
  return fn;
}

// ---- context and logging --------------------------------------------------------------------------------

// The request id the lines printed now belong to.
let currentRequestId = '';

function stamp() {
  return new Date().toISOString();
}

/** FC's line: `2024-05-01T08:00:00.123Z 1-6631f0a0-... [info] message`. */
function logLine(level, args) {
  return `${stamp()} ${currentRequestId} [${level}] ${util.format(...args)}\n`;
}

const logger = {
  debug: (...args) => process.stdout.write(logLine('debug', args)),
  info: (...args) => process.stdout.write(logLine('info', args)),
  log: (...args) => process.stdout.write(logLine('verbose', args)),
  warn: (...args) => process.stdout.write(logLine('warning', args)),
  error: (...args) => process.stderr.write(logLine('error', args)),
};

// As FC's runtime does, console's lines carry the time, the request id and the level.
console.log = logger.log;
console.info = logger.info;
console.debug = logger.debug;
console.warn = logger.warn;
console.error = logger.error;

function say(line) {
  process.stdout.write(line + '\n');
}

function createContext(headers) {
  const h = (name, fallback = '') => headers[name] || fallback;
  const number = (name) => Number.parseInt(h(name, '0'), 10) || 0;
  return {
    requestId: h('x-fc-request-id'),
    credentials: {
      accessKeyId: h('x-fc-access-key-id'),
      accessKeySecret: h('x-fc-access-key-secret'),
      securityToken: h('x-fc-security-token'),
    },
    function: {
      name: h('x-fc-function-name', process.env.FC_FUNCTION_NAME || ''),
      handler: h('x-fc-function-handler', process.env.FC_FUNCTION_HANDLER || ''),
      memory: number('x-fc-function-memory'),
      timeout: number('x-fc-function-timeout'),
      initializer: h('x-fc-function-initializer'),
      initializationTimeout: number('x-fc-initialization-timeout'),
    },
    service: {
      name: process.env.FCEMU_SERVICE_NAME || '',
      logProject: '',
      logStore: '',
      qualifier: h('x-fc-qualifier', 'LATEST'),
      versionId: h('x-fc-version-id', 'LATEST'),
    },
    region: h('x-fc-region', process.env.FC_REGION || ''),
    accountId: h('x-fc-account-id', process.env.FC_ACCOUNT_ID || ''),
    instanceId: process.env.FC_INSTANCE_ID || '',
    logger,
  };
}

// ---- calling handlers -------------------------------------------------------------------------------------

/**
 * Calls a handler in either of Node's forms: with a callback (when it declares one, the last of `arity`
 * parameters) or returning a value or a promise. Resolves with its result.
 */
function call(fn, args, arity) {
  return new Promise((resolve, reject) => {
    let done = false;
    const callback = (error, result) => {
      if (done) return;
      done = true;
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(result);
    };
    let returned;
    try {
      returned = fn(...args, callback);
    } catch (e) {
      callback(e);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((r) => callback(null, r), (e) => callback(e || new Error('rejected')));
    } else if (fn.length < arity) {
      callback(null, returned);
    }
  });
}

/** FC's body for an error in a handler: message, type and stack trace. */
function errorBody(e) {
  const stack = String((e && e.stack) || '').split('\n').slice(1).map((l) => l.trim())
    // The runtime's and Node's own frames say nothing about the user's code.
    .filter((l) => l && !l.includes(__filename) && !l.includes('node:internal') && !l.includes('(<anonymous>)'));
  return {
    errorMessage: e && e.message !== undefined ? String(e.message) : String(e),
    errorType: (e && e.name) || 'Error',
    stackTrace: stack,
  };
}

function toBuffer(value) {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value);
  if (typeof value === 'object' || typeof value === 'number' || typeof value === 'boolean') {
    return Buffer.from(JSON.stringify(value));
  }
  return Buffer.from(String(value));
}

function httpTriggerEvent(req, target, body, context) {
  const url = new URL(target, 'http://localhost');
  const queryParameters = {};
  for (const [k, v] of url.searchParams) {
    queryParameters[k] = k in queryParameters ? `${queryParameters[k]},${v}` : v;
  }
  const headers = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (name.toLowerCase().startsWith('x-fc-')) continue;
    headers[name] = name in headers ? `${headers[name]}, ${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1];
  }
  const contentType = req.headers['content-type'] || '';
  // Text when the client says so, or says nothing and sent UTF-8; base64 otherwise.
  let text = body.length === 0 || !contentType || TEXT_TYPES.some((t) => contentType.includes(t));
  let bodyField;
  if (text) {
    bodyField = new TextDecoder('utf-8', { fatal: true });
    try {
      bodyField = bodyField.decode(body);
    } catch {
      text = false;
    }
  }
  if (!text) bodyField = body.toString('base64');
  const now = new Date();
  const host = req.headers.host || '';
  return {
    version: 'v1',
    rawPath: url.pathname,
    headers,
    queryParameters,
    body: bodyField,
    isBase64Encoded: !text,
    requestContext: {
      accountId: context.accountId,
      domainName: host,
      domainPrefix: host.split('.')[0],
      http: {
        method: req.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress || '',
        userAgent: req.headers['user-agent'] || '',
      },
      requestId: context.requestId,
      time: now.toUTCString(),
      timeEpoch: String(now.getTime()),
    },
  };
}

/** A handler's return value -> [status, headers, body], as FC 3.0's HTTP trigger reads it. */
function httpTriggerResponse(result) {
  if (result && typeof result === 'object' && !Buffer.isBuffer(result) && 'statusCode' in result) {
    let body = result.body === undefined ? '' : result.body;
    if (result.isBase64Encoded) body = Buffer.from(String(body), 'base64');
    else if (typeof body !== 'string' && !Buffer.isBuffer(body)) body = JSON.stringify(body);
    return [Number(result.statusCode), result.headers || {}, toBuffer(body)];
  }
  const json = result && typeof result === 'object' && !Buffer.isBuffer(result);
  return [200, json ? { 'content-type': 'application/json' } : {}, toBuffer(result)];
}

/** FC 2.0's HTTP function: handler(request, response, context). */
function fc2HttpCall(fn, req, target, body, context) {
  return new Promise((resolve, reject) => {
    const url = new URL(target, 'http://localhost');
    const request = Readable.from(body.length ? [body] : []);
    const queries = {};
    for (const [k, v] of url.searchParams) queries[k] = k in queries ? [].concat(queries[k], v) : v;
    Object.assign(request, {
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => !k.startsWith('x-fc-'))),
      path: decodeURIComponent(url.pathname),
      queries,
      method: req.method,
      clientIP: req.socket.remoteAddress || '',
      url: target,
    });
    let status = 200;
    const headers = {};
    const response = {
      setStatusCode: (code) => { status = Number(code); },
      setHeader: (k, v) => { headers[k] = v; },
      deleteHeader: (k) => { delete headers[k]; },
      send: (data) => resolve([status, headers, toBuffer(data)]),
    };
    try {
      const returned = fn(request, response, context);
      if (returned && typeof returned.then === 'function') returned.catch(reject);
    } catch (e) {
      reject(e);
    }
  });
}

// ---- the server -------------------------------------------------------------------------------------------

const HOOKS = {
  '/initialize': ['Initialize', 'FCEMU_INITIALIZER'],
  '/pre-stop': ['PreStop', 'FCEMU_PRE_STOP'],
  '/pre-freeze': ['PreFreeze', 'FCEMU_PRE_FREEZE'],
};

/** Runs a handler between FC's Start and End lines; resolves [ok, result or error body]. */
async function run(word, context, invoke) {
  currentRequestId = context.requestId;
  say(`FC ${word} Start RequestId: ${context.requestId}`);
  let outcome;
  try {
    outcome = [true, await invoke()];
  } catch (e) {
    const body = errorBody(e);
    logger.error(`${body.errorType}: ${body.errorMessage}\n${body.stackTrace.join('\n')}`);
    outcome = [false, body];
  }
  say(`FC ${word} End RequestId: ${context.requestId}`);
  currentRequestId = '';
  return outcome;
}

function answer(res, status, headers, body) {
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}

function answerError(res, status, errorType, body) {
  answer(res, status, { 'content-type': 'application/json', 'x-fc-error-type': errorType },
    Buffer.from(JSON.stringify(body)));
}

async function serve(req, res, body) {
  if (req.method === 'OPTIONS' && req.url === '*') {
    // fcemu's readiness probe through a published port: the server is there, and no handler runs.
    answer(res, 200, {}, Buffer.alloc(0));
    return;
  }
  const context = createContext(req.headers);
  const control = req.headers['x-fc-control-path'] || '';
  const target = req.url;
  const pathOnly = target.split('?')[0];
  const handler = process.env.FC_FUNCTION_HANDLER || 'index.handler';
  if (control === '/invoke' || (!control && pathOnly === '/invoke')) {
    const [ok, result] = await run('Invoke', context,
      async () => call(await loadHandler(handler), [body, context], 3));
    if (ok) answer(res, 200, {}, toBuffer(result));
    else answerError(res, 200, 'UnhandledInvocationError', result);
    return;
  }
  const hook = HOOKS[control] || (!control && HOOKS[pathOnly]);
  if (hook) {
    const [word, variable] = hook;
    const name = process.env[variable] || '';
    if (!name) {
      answer(res, 404, {}, Buffer.from(`no ${word} handler is set`));
      return;
    }
    const [ok, result] = await run(word, context, async () => call(await loadHandler(name), [context], 2));
    if (ok) answer(res, 200, {}, Buffer.alloc(0));
    else answerError(res, 500, `${word}Error`, result);
    return;
  }
  const invoke = process.env.FCEMU_EDITION === '2.0'
    ? async () => fc2HttpCall(await loadHandler(handler), req, target, body, context)
    : async () => {
      const event = Buffer.from(JSON.stringify(httpTriggerEvent(req, target, body, context)));
      return httpTriggerResponse(await call(await loadHandler(handler), [event, context], 3));
    };
  const [ok, result] = await run('Invoke', context, invoke);
  if (ok) answer(res, ...result);
  else answerError(res, 502, 'UnhandledInvocationError', result);
}

// One request at a time, as FC's Node.js runtime serves them: requests wait their turn in this chain.
let turn = Promise.resolve();

function main() {
  const port = Number.parseInt(process.env.FC_CUSTOM_LISTEN_PORT || '9000', 10);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      turn = turn.then(() => serve(req, res, body)).catch((e) => {
        logger.error('fcemu runtime: %s', e && e.stack);
        if (!res.headersSent) answerError(res, 500, 'RuntimeError', errorBody(e));
      });
    });
  });
  server.keepAliveTimeout = 0;
  server.listen(port, '0.0.0.0');
}

if (require.main === module) main();
