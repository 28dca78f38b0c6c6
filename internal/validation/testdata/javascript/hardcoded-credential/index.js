"use strict";

const { total } = require("./lib");

console.log(total(process.argv.slice(2)));
