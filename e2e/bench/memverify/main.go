// Command memverify is the child process of the memory bench
// (BENCH=memory make bench): one process per measurement, so each starts
// from a fresh runtime and its peak RSS is its own.
//
//	memverify build -records N -cache DIR
//	    prints the path of a CAR in DIR holding a signed synthetic repo of
//	    N posts, built with repo/repotest unless DIR already has it (its
//	    public signing key is beside it, in FILE.key).
//	memverify verify -car FILE
//	    applies atmigrate's shipped memory settings (internal/memsettings,
//	    which GOMEMLIMIT and GOGC in the environment override, as in the
//	    CLI), verifies FILE through repo.VerifyCAR as the export stage
//	    does, and prints one JSON Measurement on stdout.
//
// The bench (e2e/bench, memory.go) runs it; it is not part of the
// release binary.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "memverify:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: memverify build -records N -cache DIR | memverify verify -car FILE")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "build":
		records := fs.Int("records", 0, "records in the repo")
		dir := fs.String("cache", "", "the directory of built CARs")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *records <= 0 || *dir == "" {
			return fmt.Errorf("build needs -records N (> 0) and -cache DIR")
		}
		path, err := cached(*records, *dir)
		if err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	case "verify":
		car := fs.String("car", "", "the CAR file to verify")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *car == "" {
			return fmt.Errorf("verify needs -car FILE")
		}
		m, err := measure(*car)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(m)
	default:
		return fmt.Errorf("unknown mode %q (build, verify)", args[0])
	}
}
