package httphdr

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	s256 = sha256.Sum256([]byte("hello"))
	s512 = sha512.Sum512([]byte("hello"))
	s1   = sha1.Sum([]byte("hello"))
	m5   = md5.Sum([]byte("hello"))
	b256 = base64.StdEncoding.EncodeToString(s256[:])
	b512 = base64.StdEncoding.EncodeToString(s512[:])
	b1   = base64.StdEncoding.EncodeToString(s1[:])
	bm5  = base64.StdEncoding.EncodeToString(m5[:])
)

func TestParseDigest(t *testing.T) {
	got, err := ParseDigest("SHA-256=" + b256 + ", sha-512=" + b512 + ",UNIXsum=1234, SHA=" + b1 + ", MD5=" + bm5 + ", SHA-256=" + b256)
	if err != nil {
		t.Fatal(err)
	}
	want := []Digest{{"sha-256", s256[:]}, {"sha-512", s512[:]}, {"sha-1", s1[:]}, {"md5", m5[:]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseDigest = %v, want %v", got, want)
	}
	if got[0].Hex() != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("Hex = %s", got[0].Hex())
	}
	for _, bad := range []string{
		"SHA-256=" + b256[:10],                    // wrong length
		"SHA-256=" + strings.TrimRight(b256, "="), // missing padding
		"SHA-256=" + b256 + "!",
		"SHA-256",
		"SHA 256=" + b256,
		"SHA-256=" + b256 + ", SHA-256=" + b512[:44], // two different values
		"SHA-512=" + b256,
	} {
		if _, err := ParseDigest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseDigest(%q) error = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestFormatDigest(t *testing.T) {
	ds := []Digest{{"sha-256", s256[:]}, {"sha-512", s512[:]}, {"sha-1", s1[:]}, {"md5", m5[:]}, {"foo", []byte{1}}}
	if got, want := FormatDigest(ds...), "SHA-256="+b256+", SHA-512="+b512+", SHA="+b1+", MD5="+bm5; got != want {
		t.Errorf("FormatDigest = %q, want %q", got, want)
	}
	if got, want := FormatReprDigest(ds...), "sha-256=:"+b256+":, sha-512=:"+b512+":, sha=:"+b1+":, md5=:"+bm5+":"; got != want {
		t.Errorf("FormatReprDigest = %q, want %q", got, want)
	}
	back, err := ParseReprDigest(FormatReprDigest(ds...))
	if err != nil || !reflect.DeepEqual(back, ds[:4]) {
		t.Errorf("Repr-Digest round trip = %v, %v", back, err)
	}
	back, err = ParseDigest(FormatDigest(ds...))
	if err != nil || !reflect.DeepEqual(back, ds[:4]) {
		t.Errorf("Digest round trip = %v, %v", back, err)
	}
}

func TestParseReprDigest(t *testing.T) {
	got, err := ParseReprDigest("sha-256=:" + b256 + ":;p=1, unixsum=12, x=(1 2 \"s\");a=?0, sha-512=:" + b512 + ":, id-sha-256=:AAAA:")
	if err != nil {
		t.Fatal(err)
	}
	want := []Digest{{"sha-256", s256[:]}, {"sha-512", s512[:]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseReprDigest = %v, want %v", got, want)
	}
	// Unpadded base64 is tolerated (RFC 8941 §4.2.7).
	if got, err := ParseReprDigest("sha-256=:" + strings.TrimRight(b256, "=") + ":"); err != nil || !bytes.Equal(got[0].Value, s256[:]) {
		t.Errorf("unpadded = %v, %v", got, err)
	}
	for _, bad := range []string{
		"sha-256=" + b256,           // not a byte sequence
		"sha-256=:" + b256,          // unterminated
		"sha-256=:" + b256 + ":,",   // trailing comma
		"SHA-256=:" + b256 + ":",    // keys are lower case
		"sha-256=:" + b512 + ":",    // wrong length
		"sha-256=:" + b256 + ": x",  // junk
		"sha-256=:!!!!:",            // bad alphabet
		"sha-256=:" + b256 + ":;=1", // bad parameter
		"a=1234567890123456",        // integer too long
		"a=1.2345",                  // decimal too long
		"a=\"\x01\"",
	} {
		if _, err := ParseReprDigest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReprDigest(%q) error = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseWant(t *testing.T) {
	got, err := ParseWantReprDigest("sha-512=3, sha-256=10, md5=0, foo=5")
	if err != nil {
		t.Fatal(err)
	}
	want := []Want{{"sha-256", true, 1}, {"foo", false, 0.5}, {"sha-512", true, 0.3}, {"md5", true, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseWantReprDigest = %v, want %v", got, want)
	}
	if !Wanted(got, "sha-512") || Wanted(got, "md5") || Wanted(got, "sha-1") {
		t.Error("Wanted wrong")
	}
	for _, bad := range []string{"sha-256=11", "sha-256=-1", "sha-256=:AAAA:", "sha-256=1.5"} {
		if _, err := ParseWantReprDigest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseWantReprDigest(%q) error = %v", bad, err)
		}
	}

	got, err = ParseWantDigest("SHA-512;q=0.3, sha-256;q=1, MD5;q=0, SHA")
	if err != nil {
		t.Fatal(err)
	}
	want = []Want{{"sha-256", true, 1}, {"sha-1", true, 1}, {"sha-512", true, 0.3}, {"md5", true, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseWantDigest = %v, want %v", got, want)
	}
	for _, bad := range []string{"sha-256;q=2", "sha-256;q=1.5", "sha-256;q=0.1234", "sha-256;x=1", "sha 256", "sha-256;q="} {
		if _, err := ParseWantDigest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseWantDigest(%q) error = %v", bad, err)
		}
	}
}

func FuzzDigest(f *testing.F) {
	f.Add("SHA-256=" + b256 + ", SHA=" + b1)
	f.Add("sha-256=:" + b256 + ":, sha-512=:" + b512 + ":")
	f.Add("sha-512=3, sha-256=10")
	f.Add("SHA-512;q=0.3, sha-256;q=1")
	f.Add(`a=(1 "x" ?1 tok:/x 1.5);p, b`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) ([]Digest, error){ParseDigest, ParseReprDigest} {
			ds, err := parse(s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v is not ErrMalformed", err)
				}
				continue
			}
			for _, d := range ds {
				if len(d.Value)*2 != len(d.Hex()) || d.Algorithm == "" {
					t.Fatalf("bad digest %v", d)
				}
			}
			for _, format := range []func(...Digest) string{FormatDigest, FormatReprDigest} {
				if _, err := ParseDigest(FormatDigest(ds...)); err != nil {
					t.Fatalf("own Digest output does not parse: %v", err)
				}
				out := format(ds...)
				if strings.ContainsAny(out, "\r\n") {
					t.Fatalf("control character in %q", out)
				}
			}
			back, err := ParseReprDigest(FormatReprDigest(ds...))
			if err != nil || len(back) > len(ds) {
				t.Fatalf("Repr-Digest round trip: %v, %v", back, err)
			}
		}
		for _, parse := range []func(string) ([]Want, error){ParseWantDigest, ParseWantReprDigest} {
			ws, err := parse(s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v is not ErrMalformed", err)
				}
				continue
			}
			for _, w := range ws {
				if w.Weight < 0 || w.Weight > 1 {
					t.Fatalf("weight %v out of [0,1]", w.Weight)
				}
			}
		}
	})
}
