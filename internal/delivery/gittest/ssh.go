package gittest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SSHServer serves the repositories of a Server over SSH, as sshd with
// git's shell does: a session's exec request "git-upload-pack '<repo>'"
// or "git-receive-pack '<repo>'" runs Debian's git upload-pack or
// receive-pack on the bare repository, its stdin and stdout the channel.
// Only the one authorized client key gets in.
type SSHServer struct {
	// Addr is host:port.
	Addr string
	// HostKey is the server's host key as an authorized_keys line, what a
	// client pins (delivery.Auth.SSHKnownHost).
	HostKey string

	root       string
	authorized atomic.Value // ssh.PublicKey
	ln         net.Listener
	wg         sync.WaitGroup
}

// StartSSH serves g's repositories over SSH to the holder of the private
// key of authorized until the test ends.
func (g *Server) StartSSH(t testing.TB, authorized ssh.PublicKey) *SSHServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SSHServer{Addr: ln.Addr().String(), HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(host.PublicKey()))), root: g.Root, ln: ln}
	s.authorized.Store(authorized)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if want := s.authorized.Load().(ssh.PublicKey); bytes.Equal(k.Marshal(), want.Marshal()) {
			return &ssh.Permissions{}, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(host)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn, cfg)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// SetKey replaces the authorized client key: the old one is revoked.
func (s *SSHServer) SetKey(k ssh.PublicKey) { s.authorized.Store(k) }

// URL is the ssh:// URL of repo (user git, as forges use).
func (s *SSHServer) URL(repo string) string { return "ssh://git@" + s.Addr + "/" + repo }

func (s *SSHServer) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, creqs)
	}
}

// session answers env requests (git sends GIT_PROTOCOL) and runs the one
// exec request.
func (s *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			cmd, ok := s.command(req.Payload)
			_ = req.Reply(ok, nil)
			if !ok {
				return
			}
			status := uint32(0)
			if err := s.run(cmd, ch); err != nil {
				status = 1
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = uint32(ee.ExitCode())
				}
			}
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// command is the git command of an exec payload, confined to the root.
func (s *SSHServer) command(payload []byte) (*exec.Cmd, bool) {
	if len(payload) < 4 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(payload)
	if int(n) != len(payload)-4 {
		return nil, false
	}
	verb, arg, _ := strings.Cut(string(payload[4:]), " ")
	if verb != "git-upload-pack" && verb != "git-receive-pack" {
		return nil, false
	}
	repo := filepath.Join(s.root, filepath.Clean("/"+strings.Trim(arg, "'")))
	return exec.Command("git", strings.TrimPrefix(verb, "git-"), repo), true
}

// run runs cmd with the channel as its stdin and stdout. Stdin goes
// through a pipe of our own so that Wait returns when git exits, whatever
// the client still holds open.
func (s *SSHServer) run(cmd *exec.Cmd, ch ssh.Channel) error {
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(in, ch)
		_ = in.Close()
	}()
	return cmd.Wait()
}
