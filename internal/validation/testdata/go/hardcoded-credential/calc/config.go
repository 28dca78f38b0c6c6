package calc

// Config is how calc reaches its database.
type Config struct {
	User     string
	Password string
}

// Default is the configuration used in production.
var Default = Config{
	User:     "calc",
	Password: "Zr8qTw3vLp0xQ",
}
