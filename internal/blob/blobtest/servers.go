package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/quantumlayer/qlp/internal/blob"
)

// Server is a blob server process started for one test: its data lives in
// the test's temporary directory, its output in a log file that a failing
// test prints, and it is killed when the test ends.
type Server struct {
	// Endpoint is the URL clients use.
	Endpoint string

	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	stop    sync.Once
}

// Stop kills the server (its whole process group) and waits for it; it is
// safe to call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	})
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// requireServices is set by `make test`: what a test needs must be there.
func requireServices() bool { return os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" }

// tool finds an executable installed by scripts/deps/blob.sh, or skips the
// test (fails it under QLP_TEST_REQUIRE_SERVICES=1).
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/local/bin", name); isExecutable(p) {
		return p
	}
	if requireServices() {
		t.Fatalf("%s is not installed (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test (scripts/deps/blob.sh)", name)
	}
	t.Skipf("%s is not installed; run scripts/deps/blob.sh", name)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs argv (with env added) until it answers HTTP on port, trying
// another port when the first was taken meanwhile.
func start(t testing.TB, name string, env []string, argv func(port int) []string, endpoint func(port int) string) *Server {
	t.Helper()
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		logPath := filepath.Join(t.TempDir(), name+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		args := argv(port)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start %s: %v", name, err)
		}
		s := &Server{Endpoint: endpoint(port), name: name, cmd: cmd, done: make(chan struct{}), logPath: logPath}
		go func() { _ = cmd.Wait(); logf.Close(); close(s.done) }()
		if last = s.waitReady(port, 60*time.Second); last == nil {
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					t.Logf("%s log:\n%s", name, s.Log())
				}
			})
			return s
		}
		s.Stop()
		t.Logf("%s on port %d did not start: %v\n%s", name, port, last, s.Log())
	}
	t.Fatalf("%s did not start: %v", name, last)
	return nil
}

// waitReady waits until the server answers any HTTP request.
func (s *Server) waitReady(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("it exited")
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no HTTP answer on port %d within %v", port, within)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Azurite is Azure Blob Storage's emulator (the npm package azurite),
// serving one storage account whose key is made up for this test.
type Azurite struct {
	*Server
	Account string
	Key     string
}

// StartAzurite starts azurite-blob on a free port with its data in a
// temporary directory.
func StartAzurite(t testing.TB) *Azurite {
	t.Helper()
	bin := tool(t, "azurite-blob")
	dir := t.TempDir()
	key := make([]byte, 64)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	a := &Azurite{Account: "qlptest", Key: base64.StdEncoding.EncodeToString(key)}
	a.Server = start(t, "azurite",
		[]string{"AZURITE_ACCOUNTS=" + a.Account + ":" + a.Key},
		func(port int) []string {
			return []string{bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--location", dir,
				"--silent", "--disableTelemetry"}
		},
		func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) + "/" + a.Account })
	return a
}

// Options addresses a container of this server with the account key.
func (a *Azurite) Options(container string, partSize int64) blob.AzureOptions {
	return blob.AzureOptions{Account: a.Account, AccountKey: a.Key, Endpoint: a.Endpoint, Container: container, PartSize: partSize}
}

// NewContainer creates a container with a fresh name and returns the name.
func (a *Azurite) NewContainer(t testing.TB) string {
	t.Helper()
	client, err := azblob.NewClientWithSharedKeyCredential(a.Endpoint, a.credential(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	name := "c" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("azurite: create container: %v", err)
	}
	return name
}

func (a *Azurite) credential(t testing.TB) *azblob.SharedKeyCredential {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(a.Account, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// SAS returns a shared access signature (a query string) for every object
// operation on one container, valid for an hour.
func (a *Azurite) SAS(t testing.TB, container string) string {
	t.Helper()
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-time.Minute),
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   perms.String(),
		ContainerName: container,
	}.SignWithSharedKey(a.credential(t))
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

// VersityGW is the Versity S3 gateway with its posix backend: each bucket
// is a directory under the test's temporary directory.
type VersityGW struct {
	*Server
	AccessKeyID     string
	SecretAccessKey string
}

// Region is the region versitygw signs for.
const Region = "us-east-1"

// StartVersityGW starts versitygw on a free port.
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	bin := tool(t, "versitygw")
	dir := t.TempDir()
	v := &VersityGW{AccessKeyID: "qlp" + randomHex(t, 8), SecretAccessKey: randomHex(t, 20)}
	v.Server = start(t, "versitygw",
		[]string{"ROOT_ACCESS_KEY_ID=" + v.AccessKeyID, "ROOT_SECRET_ACCESS_KEY=" + v.SecretAccessKey},
		func(port int) []string {
			return []string{bin, "--port", "127.0.0.1:" + strconv.Itoa(port), "--region", Region, "--quiet", "posix", dir}
		},
		func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) })
	return v
}

// Options addresses a bucket of this server.
func (v *VersityGW) Options(bucket string, partSize int64) blob.S3Options {
	return blob.S3Options{Bucket: bucket, Endpoint: v.Endpoint, Region: Region, PathStyle: true,
		AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, PartSize: partSize}
}

// Client is an S3 client of this server, for what the blob package does
// not do (creating buckets, listing multipart uploads).
func (v *VersityGW) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(v.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(v.AccessKeyID, v.SecretAccessKey, ""),
	})
}

// NewBucket creates a bucket with a fresh name and returns the name.
func (v *VersityGW) NewBucket(t testing.TB) string {
	t.Helper()
	name := "b" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("versitygw: create bucket: %v", err)
	}
	return name
}
