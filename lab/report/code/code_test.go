package code_test

import (
	"fmt"

	"github.com/linelab/linelab/lab/report/code"
)

func ExampleHighlight() {
	src := "def f(x):  # the answer\n    return \"<\" + x\n"
	fmt.Println(code.Lang("reference/threads/server.py"), code.Lines("server.py", src+"\n# only a comment\n"))
	fmt.Println(code.Highlight(code.Lang("server.py"), src))
	// Output:
	// python 2
	// <span class="k">def</span> f(x):  <span class="c"># the answer</span>
	//     <span class="k">return</span> <span class="s">&#34;&lt;&#34;</span> + x
}
