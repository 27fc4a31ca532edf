//go:build linux

package publish

import "syscall"

func ctimeNs(st *syscall.Stat_t) int64 { return int64(st.Ctim.Sec)*1e9 + int64(st.Ctim.Nsec) }
