package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunServesAndReports runs the command in-process on a free port, downloads a range
// through it, stops it and checks the JSON counters it prints.
func TestRunServesAndReports(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.bin")
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--file", file, "--piece-length", "1000",
			"--corrupt-pieces", "2", "--rate", "1000000"}, &out, &errb)
	}()
	var body []byte
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/f.bin", nil)
		req.Header.Set("Range", "bytes=2000-2999")
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		break
	}
	c.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(body) != 1000 || bytes.Equal(body, data[2000:3000]) || !bytes.Equal(body[1:], data[2001:3000]) {
		t.Fatalf("piece 2 not corrupted as asked (%d bytes)", len(body))
	}
	var rep struct {
		URL             string `json:"url"`
		BytesServed     int64  `json:"bytes_served"`
		Requests        int64  `json:"requests"`
		RangeRequests   int64  `json:"range_requests"`
		CorruptedPieces int    `json:"corrupted_pieces"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q: %v", out.String(), err)
	}
	if rep.BytesServed != 1000 || rep.Requests != 1 || rep.RangeRequests != 1 || rep.CorruptedPieces != 1 ||
		rep.URL != "http://"+addr+"/f.bin" {
		t.Errorf("report = %+v", rep)
	}
}

func TestRunUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no --file: exit %d", code)
	}
	if code := run(context.Background(), []string{"--file", "x", "--corrupt-fraction", "0.1"}, &out, &errb); code == 0 {
		t.Errorf("missing file accepted")
	}
}
