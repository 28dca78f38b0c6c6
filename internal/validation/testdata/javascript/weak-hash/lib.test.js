"use strict";

const test = require("node:test");
const assert = require("node:assert");
const { total } = require("./lib");

test("adds", () => {
  assert.strictEqual(total([]), 0);
  assert.strictEqual(total(["1", "2", "3"]), 6);
  assert.strictEqual(total(["-4", "4"]), 0);
});

test("rejects text", () => {
  assert.throws(() => total(["x"]));
});
