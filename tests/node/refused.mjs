// The check every Node test of a refused request makes: the SDK raised the right class, and the
// fields an SDK user reads (status, code, param, type, request id, message) came from OpenAI's
// envelope {"error": {...}}.

import assert from 'node:assert/strict';

import OpenAI from 'openai';

/** Awaits a call that must fail and returns the error; `code` and `param` are checked when given. */
export async function refused(call, errorClass, { status, code, param } = {}) {
  let error;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  assert.ok(error, 'the request should have been refused');
  assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error?.constructor?.name}: ${error}`);
  assert.ok(error instanceof OpenAI.APIError);
  assert.equal(error.status, status);
  if (code !== undefined) assert.equal(error.code, code);
  if (param !== undefined) assert.equal(error.param, param);
  assert.equal(error.type, 'invalid_request_error');
  assert.match(error.requestID ?? '', /^req_/);
  assert.ok(error.message.startsWith(`${status} `) && error.message.length > 4, error.message);
  assert.doesNotMatch(error.message, /no body/, 'the error envelope must be {"error": {...}}');
  return error;
}
