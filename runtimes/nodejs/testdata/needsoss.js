// A handler module whose own require fails: it uses a library FC's runtime ships.
const OSS = require('ali-oss');

exports.handler = async () => String(OSS);
