package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// binDir holds the binary that buildBinary compiles; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary compiles the convops command once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "convops-bin")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "convops")
	// -buildvcs=auto: the commit is recorded (TestVersion checks it) even
	// where GOFLAGS says -buildvcs=false.
	out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// binaryServer is the real convops binary running as a child process.
type binaryServer struct {
	cmd *exec.Cmd
	url string
	// startLog holds the lines it logged until it was ready.
	startLog string
}

// startBinary starts `convops serve` and waits for its ready line.
func startBinary(t *testing.T, args ...string) *binaryServer {
	t.Helper()
	return startBinaryUnder(t, nil, args...)
}

// startBinaryUnder is startBinary with the binary run by a command that
// execs it (prlimit, to set its limits).
func startBinaryUnder(t *testing.T, under []string, args ...string) *binaryServer {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string{}, under...), bin, "serve", "--listen", "127.0.0.1:0"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := regexp.MustCompile(`msg="convops ready" addr=(\S+)`)
	lines := bufio.NewScanner(stderr)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if m := ready.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return &binaryServer{cmd: cmd, url: "http://" + m[1], startLog: strings.Join(seen, "\n")}
		}
	}
	cmd.Wait()
	t.Fatalf("server exited before it was ready:\n%s", strings.Join(seen, "\n"))
	return nil
}
