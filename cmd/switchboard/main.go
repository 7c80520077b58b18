// Command switchboard is the Switchboard gateway.
//
//	switchboard serve [--config FILE]    run the gateway
//	switchboard check-config [--config FILE]
//	switchboard hash-password            read a password on stdin, print its bcrypt hash
//	switchboard version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"switchboard/config"
	"switchboard/session"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		usage()
		return errors.New("no command")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default: $"+config.EnvConfig+")")
	switch cmd {
	case "serve":
		if err := fs.Parse(rest); err != nil {
			return err
		}
		cfg, err := config.Load(*path, os.Getenv)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, cfg)
	case "check-config":
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if _, err := config.Load(*path, os.Getenv); err != nil {
			return err
		}
		fmt.Println("configuration is valid")
		return nil
	case "hash-password":
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		hash, _, err := session.HashPassword(strings.TrimRight(line, "\r\n"))
		if err != nil {
			return err
		}
		fmt.Println(hash)
		return nil
	case "version":
		fmt.Println("switchboard", version)
		return nil
	case "help", "-h", "--help":
		usage()
		return nil
	}
	usage()
	return fmt.Errorf("unknown command %q", cmd)
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  switchboard serve [--config FILE]          run the gateway
  switchboard check-config [--config FILE]   validate a configuration
  switchboard hash-password                  bcrypt a password read from stdin
  switchboard version

Environment: SWITCHBOARD_CONFIG, SWITCHBOARD_REDIS_URL, SWITCHBOARD_LISTEN.
`)
}
