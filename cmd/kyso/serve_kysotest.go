//go:build kysotest

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
)

// registerTestFlags adds --scripted-prompter to test builds only (built
// with -tags kysotest): end-to-end tests answer the agent's dialogs from a
// JSON script instead of a person. KYSO_CPUPROFILE profiles the server.
func registerTestFlags(fs *flag.FlagSet, sf *serveFlags) {
	fs.Func("scripted-prompter", "test builds only: answer dialogs from this JSON script (agent.ScriptedAnswers)", func(path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var script agent.ScriptedAnswers
		if err := json.Unmarshal(data, &script); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		sf.prompter = func(i18n.Lang) (agent.Prompter, error) { return agent.NewScriptedPrompter(script), nil }
		return nil
	})
	// KYSO_CPUPROFILE=FILE writes a CPU profile of the whole serve run,
	// for the serve benchmarks (an environment variable, so the harness
	// needs no flag of its own to pass it through).
	if path := os.Getenv("KYSO_CPUPROFILE"); path != "" {
		sf.profile = func() (func(), error) {
			f, err := os.Create(path)
			if err != nil {
				return nil, err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return nil, err
			}
			return func() {
				pprof.StopCPUProfile()
				f.Close()
			}, nil
		}
	}
}
