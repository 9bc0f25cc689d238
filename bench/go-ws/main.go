// Gorilla's WebSocket echo server, the WebSocket benchmark's Go peer
// (scripts/ws_bench.sh): every message sent back as it came, one goroutine
// per connection. Built in GOPATH mode against Debian's
// golang-github-gorilla-websocket-dev (/usr/share/gocode), as Go's standard
// library has no WebSocket. Prints "listening on ws://127.0.0.1:PORT".
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		t, m, err := c.ReadMessage()
		if err != nil || c.WriteMessage(t, m) != nil {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on ws://%s\n", ln.Addr())
	http.HandleFunc("/", echo)
	http.Serve(ln, nil)
}
