'use strict';
// Handlers the runtime's tests call, one per form FC's Node.js programming model has.

const calls = [];

exports.initialize = (context, callback) => {
  calls.push('initialize');
  console.log('initializing', context.function.name);
  callback(null, '');
};

exports.preStop = async (context) => {
  calls.push('preStop');
  console.log('pre-stop called');
};

exports.preFreeze = (context, callback) => {
  calls.push('preFreeze');
  callback();
};

exports.failingHook = async () => {
  throw new Error('the model is missing');
};

exports.echoCallback = (event, context, callback) => callback(null, event);

exports.echoAsync = async (event) => event;

exports.callsSoFar = async () => ({ calls });

exports.describeContext = async (event, context) => {
  const { logger, ...rest } = context;
  return rest;
};

exports.logs = async (event, context) => {
  console.log('console line');
  context.logger.info('context logger line');
  process.stdout.write('raw write\n');
  return 'logged';
};

function divide(a, b) {
  if (b === 0) throw new RangeError('division by zero');
  return a / b;
}

exports.fails = async () => divide(1, 0);

exports.failsCallback = (event, context, callback) => callback(new TypeError('bad event'));

exports.httpEvent = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: event.toString(),
});

exports.httpResponse = async (event) => {
  const request = JSON.parse(event);
  return {
    statusCode: 201,
    headers: { 'x-custom': 'yes' },
    body: Buffer.concat([Buffer.from([0]), Buffer.from(`binary ${request.rawPath}`)]).toString('base64'),
    isBase64Encoded: true,
  };
};

exports.httpPlain = async () => 'just a body';

exports.fc2Http = (request, response, context) => {
  const chunks = [];
  request.on('data', (c) => chunks.push(c));
  request.on('end', () => {
    response.setStatusCode(202);
    response.setHeader('x-path', request.path);
    response.send(`method=${request.method} query=${JSON.stringify(request.queries)} body=${Buffer.concat(chunks)} fn=${context.function.name}`);
  });
};
