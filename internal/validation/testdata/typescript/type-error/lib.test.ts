import test from "node:test";
import assert from "node:assert";
import { total } from "./lib";

test("adds", () => {
  assert.strictEqual(total(["1", "2", "3"]), 6);
});
