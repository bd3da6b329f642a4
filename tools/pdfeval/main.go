// Command pdfeval measures how two Go PDF libraries, pdfcpu and
// digitorus/pdf, cope with reading the structure kyso's signer needs
// (trailer, cross-reference chain, catalog, AcroForm, page tree) from
// real-world-shaped files, and how much memory they take doing it.
//
// Driver mode (what a person runs):
//
//	cd tools/pdfeval && go run . -corpus DIR
//
// makes (or reuses) kyso's test corpus in DIR (internal/pdfcorpus: the
// valid samples, the broken ones in DIR/broken and a large scan), then
// parses every file with each library in a separate child process (this
// same program with -lib and -file) and prints a Markdown table of
// outcome, parse time and the child's peak resident set size. A separate
// process per parse keeps one library's heap from inflating the next
// measurement. The child reports its own peak (VmHWM) because the
// parent's view, rusage ru_maxrss, is polluted (see peakRSS); the rusage
// value is kept as a fallback and for children that die.
//
// Child mode: pdfeval -lib pdfcpu|digitorus|none -file F prints one JSON
// result line. "none" only opens the file: the Go runtime's own footprint,
// the floor under every other number.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// result is what a child reports about one parse.
type result struct {
	Status  string `json:"status"` // ok, error or panic
	Message string `json:"message,omitempty"`
	Pages   int    `json:"pages"`  // leaves found walking /Pages → /Kids
	Fields  int    `json:"fields"` // entries in /AcroForm /Fields
	// Nanos is the time from opening the file to the end of the walk.
	Nanos int64 `json:"nanos"`
	// HWMKB is the child's peak resident set size (VmHWM), in KiB.
	HWMKB int64 `json:"hwm_kb"`
}

func main() {
	lib := flag.String("lib", "", "child mode: library to parse with (pdfcpu, digitorus or none)")
	file := flag.String("file", "", "child mode: PDF file to parse")
	corpus := flag.String("corpus", "", "driver mode: corpus folder (made or reused)")
	largeMB := flag.Int("large-mb", 100, "driver mode: size of the large scan in MB (0: none)")
	runs := flag.Int("runs", 3, "driver mode: parses per library and file; the table shows the median time and the highest RSS")
	timeout := flag.Duration("timeout", 2*time.Minute, "driver mode: limit for one child")
	flag.Parse()

	switch {
	case *lib != "" && *file != "":
		res := parseFile(*lib, *file)
		res.HWMKB = peakRSS()
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "pdfeval:", err)
			os.Exit(1)
		}
	case *corpus != "":
		if err := drive(*corpus, *largeMB, *runs, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "pdfeval:", err)
			os.Exit(1)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// parseFile parses one file with one library, turning a panic into a
// result: digitorus/pdf reports most malformations by panicking.
func parseFile(lib, path string) (res result) {
	start := time.Now()
	defer func() {
		res.Nanos = time.Since(start).Nanoseconds()
		if r := recover(); r != nil {
			res = result{Status: "panic", Message: fmt.Sprint(r), Nanos: res.Nanos}
		}
	}()
	var pages, fields int
	var err error
	switch lib {
	case "pdfcpu":
		pages, fields, err = parsePdfcpu(path)
	case "digitorus":
		pages, fields, err = parseDigitorus(path)
	case "none":
		err = openOnly(path)
	default:
		err = fmt.Errorf("unknown library %q", lib)
	}
	if err != nil {
		return result{Status: "error", Message: err.Error()}
	}
	return result{Status: "ok", Pages: pages, Fields: fields}
}

// peakRSS returns this process's peak resident set size in KiB from
// /proc/self/status (VmHWM), or 0 where that is unavailable.
//
// The parent cannot use the child's rusage for this: on Linux, execve
// copies the high-water mark of the memory it replaces into ru_maxrss, and
// Go starts children with vfork semantics, so every child would report at
// least the driver's own peak (38 MB here, from making the corpus).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return 0
}

// openOnly opens and stats the file, for the runtime baseline.
func openOnly(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Stat()
	return err
}
