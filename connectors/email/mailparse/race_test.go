//go:build race

package mailparse

func init() { slowdown = 10 }
