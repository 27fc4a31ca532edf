package metalink

// Count is the number of pieces that cover size bytes in pieces of p.Length;
// 0 when size <= 0 or Length <= 0. It cannot overflow.
func (p *Pieces) Count(size int64) int64 {
	if size <= 0 || p.Length <= 0 {
		return 0
	}
	return (size-1)/p.Length + 1
}

// Piece returns the byte offset and length of piece i of a file of size bytes.
// ok is false when i is out of range (or the geometry is invalid).
func (p *Pieces) Piece(size, i int64) (off, length int64, ok bool) {
	n := p.Count(size)
	if i < 0 || i >= n {
		return 0, 0, false
	}
	off = i * p.Length // i < n <= size/Length+1, so i*Length <= size: no overflow
	length = p.Length
	if rest := size - off; rest < length {
		length = rest
	}
	return off, length, true
}
