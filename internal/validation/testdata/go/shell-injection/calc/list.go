package calc

import "os/exec"

// List lists a directory.
func List(dir string) ([]byte, error) {
	return exec.Command("sh", "-c", "ls -l "+dir).Output()
}
