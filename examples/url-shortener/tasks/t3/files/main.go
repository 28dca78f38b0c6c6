// Command shorty serves the URL shortener.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/shorty/server"
	"example.com/shorty/shortener"
)

// newServer returns the HTTP server of the shortener on addr, handing out
// short links under base.
func newServer(addr, base string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           server.New(shortener.NewStore(), base),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	base := flag.String("base", "http://localhost:8080", "base URL of the short links")
	flag.Parse()

	srv := newServer(*addr, *base)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("shorty listening on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
