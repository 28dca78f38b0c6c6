"use strict";

/** Finds a user by name. */
function find(db, name) {
  return db.query(`SELECT id FROM users WHERE name = '${name}'`);
}

module.exports = { find };
