"use strict";

const { exec } = require("node:child_process");

/** Lists a directory. */
function listing(dir, done) {
  exec("ls -l " + dir, done);
}

module.exports = { listing };
