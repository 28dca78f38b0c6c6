"use strict";

module.exports = {
  user: "calc",
  apiKey: "Zr8qTw3vLp0xQ",
};
