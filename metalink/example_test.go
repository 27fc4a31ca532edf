package metalink_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mlinkdev/mlink/metalink"
)

func ExampleDecode() {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="app-1.0.tar.gz">
    <size>3</size>
    <hash type="sha-256">BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD</hash>
    <url priority="2">https://mirror-b.example/app-1.0.tar.gz</url>
    <url priority="1" location="DE">https://mirror-a.example/app-1.0.tar.gz</url>
    <url>relative/app-1.0.tar.gz</url>
  </file>
  <file name="../../etc/passwd"><url>https://evil.example/x</url></file>
</metalink>`
	m, err := metalink.Decode(strings.NewReader(doc), &metalink.DecodeOptions{BaseURL: "https://example.org/releases/app.meta4"})
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	f := m.Files[0]
	h, _ := f.StrongestHash()
	fmt.Println(f.Name, f.Size, h.Type, h.Value[:8])
	for _, u := range f.URLs {
		fmt.Println(u.Priority, u.Location, u.URL)
	}
	for _, r := range m.Refused {
		fmt.Println(r.Element, errors.Is(r, metalink.ErrUnsafeName))
	}
	// Output:
	// app-1.0.tar.gz 3 sha-256 ba7816bf
	// 2  https://mirror-b.example/app-1.0.tar.gz
	// 1 de https://mirror-a.example/app-1.0.tar.gz
	// 0  https://example.org/releases/relative/app-1.0.tar.gz
	// file@name true
}

func ExampleEncode() {
	m := &metalink.Metalink{Files: []metalink.File{{
		Name:   "app-1.0.tar.gz",
		Size:   3,
		Hashes: []metalink.Hash{{Type: "sha-256", Value: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},
		URLs:   []metalink.URL{{URL: "https://mirror-a.example/app-1.0.tar.gz", Priority: 1, Location: "de"}},
	}}}
	if err := metalink.Encode(os.Stdout, m, metalink.FormatMirrorManager); err != nil {
		fmt.Println(err)
	}
	// Output:
	// <?xml version="1.0" encoding="utf-8"?>
	// <metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager" type="static">
	//   <files>
	//     <file name="app-1.0.tar.gz">
	//       <size>3</size>
	//       <verification>
	//         <hash type="sha256">ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad</hash>
	//       </verification>
	//       <resources>
	//         <url protocol="https" type="https" location="DE" preference="100">https://mirror-a.example/app-1.0.tar.gz</url>
	//       </resources>
	//     </file>
	//   </files>
	// </metalink>
}

func ExampleCheckName() {
	for _, name := range []string{"dists/app-1.0.tar.gz", "../evil", "a/.ssh/authorized_keys", `C:\x`, "nul.txt"} {
		fmt.Println(name, metalink.CheckName(name) == nil)
	}
	// Output:
	// dists/app-1.0.tar.gz true
	// ../evil false
	// a/.ssh/authorized_keys false
	// C:\x false
	// nul.txt false
}
