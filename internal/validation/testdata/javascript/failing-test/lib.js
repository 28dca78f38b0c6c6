"use strict";

/** Returns the sum of the integers in args. */
function total(args) {
  let result = 0;
  for (const a of args) {
    const n = Number.parseInt(a, 10);
    if (Number.isNaN(n)) {
      throw new Error(`${a} is not an integer`);
    }
    result += n;
  }
  return result;
}

module.exports = { total };
