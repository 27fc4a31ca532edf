package publish_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlinkdev/mlink/metalink"
	"github.com/mlinkdev/mlink/publish"
)

func ExampleMirrorURL() {
	u, _ := publish.MirrorURL("https://mirror.example/pub/", "release 1.0/app#1.tar.gz")
	fmt.Println(u)
	// Output: https://mirror.example/pub/release%201.0/app%231.tar.gz
}

func ExampleGenerate() {
	dir, _ := os.MkdirTemp("", "publish-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, world\n"), 0o644)

	res, err := publish.Generate(context.Background(), []string{filepath.Join(dir, "hello.txt")}, publish.Options{
		Mirrors: []publish.Mirror{{URL: "https://mirror.example/pub/", Priority: 1, Location: "de"}},
	})
	if err != nil {
		panic(err)
	}
	f := res.Documents[0].Metalink.Files[0]
	fmt.Println(f.Name, f.Size, f.Hashes[0].Type, f.Hashes[0].Value)
	fmt.Println(f.URLs[0].URL)
	fmt.Println(len(f.Pieces[0].Hashes), "piece of", f.Pieces[0].Length)
	// Write it with metalink.Encode (mlink publish writes through a temporary file).
	_ = metalink.Encode(os.Stdout, res.Documents[0].Metalink, metalink.FormatV4)
	// Output:
	// hello.txt 13 sha-256 853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020
	// https://mirror.example/pub/hello.txt
	// 1 piece of 1048576
	// <?xml version="1.0" encoding="UTF-8"?>
	// <metalink xmlns="urn:ietf:params:xml:ns:metalink">
	//   <file name="hello.txt">
	//     <size>13</size>
	//     <hash type="sha-256">853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020</hash>
	//     <pieces length="1048576" type="sha-256">
	//       <hash>853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020</hash>
	//     </pieces>
	//     <url location="de" priority="1">https://mirror.example/pub/hello.txt</url>
	//   </file>
	// </metalink>
}
