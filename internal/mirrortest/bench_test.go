package mirrortest

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkServe measures an unthrottled mirror serving 8 MiB ranges on loopback, so
// benchmark scripts know the mirror is not the bottleneck.
func BenchmarkServe(b *testing.B) {
	data := content(64 << 20)
	m := New(data)
	defer m.Close()
	c := m.Client()
	defer c.CloseIdleConnections()
	const n = 8 << 20
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i%8) * n
		req, _ := http.NewRequest("GET", m.URL(), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkThrottle reports how close a Throttle(8 MB/s) mirror read by 4 connections
// at once comes to its rate (metric achieved/target; 1.00 is exact).
func BenchmarkThrottle(b *testing.B) {
	const rateBps = 8e6
	data := content(4 << 20)
	m := New(data, Throttle(rateBps))
	defer m.Close()
	c := m.Client()
	defer c.CloseIdleConnections()
	b.ResetTimer()
	var ratio float64
	for i := 0; i < b.N; i++ {
		start, before := time.Now(), m.BytesServed()
		var wg sync.WaitGroup
		for k := 0; k < 4; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", m.URL(), nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", k<<20, (k+1)<<20-1))
				resp, err := c.Do(req)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		got := float64(m.BytesServed()-before) / time.Since(start).Seconds()
		ratio = got / rateBps
	}
	b.ReportMetric(ratio, "achieved/target")
}
