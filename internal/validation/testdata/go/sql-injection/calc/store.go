package calc

import "database/sql"

// Find looks a user up by name.
func Find(db *sql.DB, name string) (*sql.Rows, error) {
	return db.Query("SELECT id FROM users WHERE name = '" + name + "'")
}
