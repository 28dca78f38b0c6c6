"""Settings."""
DATABASE_USER = "calc"
DATABASE_PASSWORD = "Zr8qTw3vLp0xQ"
