package publish_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/mlinkdev/mlink/publish"
)

// A mirror directory accepting resumable uploads, and a push to it.
func ExamplePush() {
	dir, _ := os.MkdirTemp("", "mirror")
	defer os.RemoveAll(dir)
	const token = "example-token-0123456789"
	up, err := publish.NewUploadHandler(dir, publish.UploadOptions{Token: token})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer up.Close()
	srv := httptest.NewServer(up) // mlink serve dispatches PUT requests to it
	defer srv.Close()

	src := filepath.Join(dir, "..", filepath.Base(dir)+"-artifact.txt")
	os.WriteFile(src, []byte("release artifact\n"), 0o644)
	defer os.Remove(src)

	res, err := publish.Push(context.Background(), srv.Client(), src, srv.URL+"/pub/artifact.txt",
		publish.PushOptions{Token: token, ChunkSize: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, _ := os.ReadFile(filepath.Join(dir, "pub", "artifact.txt"))
	fmt.Printf("%d bytes in %d requests, verified by %s: %q\n", res.Size, res.Requests, res.Verified, got)
	// Output: 17 bytes in 4 requests, verified by repr-digest: "release artifact\n"
}
