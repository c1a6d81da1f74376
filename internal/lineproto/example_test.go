package lineproto_test

import (
	"fmt"
	"strings"

	"github.com/linelab/linelab/internal/lineproto"
)

func ExampleReader() {
	r := lineproto.NewReader(strings.NewReader("hello\r\nworld\npartial"), lineproto.MaxLine)
	for {
		p, err := r.ReadLine()
		if err != nil {
			fmt.Println("stop:", err)
			return
		}
		fmt.Printf("%q\n", lineproto.AppendEcho(nil, p))
	}
	// Output:
	// "echo: hello\n"
	// "echo: world\n"
	// stop: unterminated line at end of input
}
