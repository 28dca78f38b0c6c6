"use strict";

const crypto = require("node:crypto");

/** Fingerprints a password. */
function digest(password) {
  return crypto.createHash("md5").update(password).digest("hex");
}

module.exports = { digest };
