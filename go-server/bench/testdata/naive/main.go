// Command naive is the yardstick of the issue: a plain 15-line goroutine echo
// server with bufio, no line limit and no flush batching.
package main

import (
	"bufio"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				c.Write(append([]byte("echo: "), line...))
			}
		}()
	}
}
