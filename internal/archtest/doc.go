// Package archtest holds the test that enforces the import rules of
// ARCHITECTURE.md: dependencies point down, fetch and publish never import each
// other, metalink imports nothing of this module, and only cmd/mlink touches
// flags and terminal UI libraries. It has no non-test code.
package archtest
