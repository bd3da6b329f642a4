package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

// libs are the libraries under evaluation, in table order.
var libs = []string{"pdfcpu", "digitorus"}

// measurement is one library's outcome on one file over all runs.
type measurement struct {
	res   result  // from the first run (the outcome does not vary)
	nanos []int64 // in-child parse time of each run
	rssKB int64   // highest peak RSS over the runs, in KiB
}

// drive makes the corpus, runs every child and prints the table.
func drive(dir string, largeMB, runs int, timeout time.Duration) error {
	ctx := context.Background()
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		return err
	}
	start := time.Now()
	samples, err := pdfcorpus.Generate(ctx, dir, pki)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "corpus ready in %v\n", time.Since(start).Round(time.Millisecond))
	broken, err := pdfcorpus.GenerateBroken(ctx, filepath.Join(dir, "broken"), samples)
	if err != nil {
		return err
	}
	files := append(samples, broken...)
	if largeMB > 0 {
		path := filepath.Join(dir, fmt.Sprintf("large-scan-%dmb.pdf", largeMB))
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			start := time.Now()
			if err := pdfcorpus.GenerateLargeScan(ctx, path, int64(largeMB)<<20); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "large scan made in %v\n", time.Since(start).Round(time.Millisecond))
		}
		pages, err := pdfcorpus.PageCount(ctx, path)
		if err != nil {
			return err
		}
		files = append(files, pdfcorpus.Sample{Name: filepath.Base(path), Path: path, Pages: pages, Producer: "kyso pdfcorpus GenerateLargeScan"})
		// The large scan cut short: a download that did not finish.
		cut := filepath.Join(dir, "broken", fmt.Sprintf("bad-truncated-%dmb.pdf", largeMB*2/3))
		if _, err := os.Stat(cut); errors.Is(err, os.ErrNotExist) {
			if err := truncateCopy(path, cut, 2, 3); err != nil {
				return err
			}
		}
		files = append(files, pdfcorpus.Sample{Name: filepath.Base(cut), Path: cut, Producer: "kyso pdfeval"})
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	base, err := measure(exe, "none", files[0].Path, runs, timeout)
	if err != nil {
		return err
	}
	table := make([][]measurement, len(files))
	for i, f := range files {
		for _, lib := range libs {
			fmt.Fprintf(os.Stderr, "%s %s\n", lib, f.Name)
			m, err := measure(exe, lib, f.Path, runs, timeout)
			if err != nil {
				return err
			}
			table[i] = append(table[i], m)
		}
	}
	return report(os.Stdout, files, table, base, runs)
}

// measure runs one library on one file runs times, each in a new child.
func measure(exe, lib, path string, runs int, timeout time.Duration) (measurement, error) {
	var m measurement
	for i := 0; i < max(1, runs); i++ {
		res, rss, err := child(exe, lib, path, timeout)
		if err != nil {
			return m, err
		}
		if i == 0 {
			m.res = res
		}
		m.nanos = append(m.nanos, res.Nanos)
		m.rssKB = max(m.rssKB, rss)
		if res.Status == "timeout" {
			break // once is enough to know
		}
	}
	return m, nil
}

// child runs `exe -lib lib -file path` and returns its result and its
// peak resident set size in KiB: VmHWM as the child reports it, or, for a
// child that died, ru_maxrss from its rusage (an upper bound, see
// peakRSS).
// A child that dies (a panic on another goroutine, the runtime running out
// of memory) or overruns the timeout is a result too, not an error.
func child(exe, lib, path string, timeout time.Duration) (result, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-lib", lib, "-file", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return result{}, 0, fmt.Errorf("run %s: %w", exe, runErr)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	switch {
	case ctx.Err() != nil:
		return result{Status: "timeout", Message: fmt.Sprintf("killed after %v", timeout), Nanos: wall.Nanoseconds()}, rss, nil
	case runErr != nil:
		return result{Status: "crash", Message: firstLine(stderr.String()), Nanos: wall.Nanoseconds()}, rss, nil
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return result{}, 0, fmt.Errorf("%s -lib %s -file %s: bad output %q: %w", exe, lib, path, stdout.String(), err)
	}
	if res.HWMKB > 0 {
		rss = res.HWMKB
	}
	return res, rss, nil
}

// firstLine returns the first non-empty line of s.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return "(no output)"
}

// report prints the Markdown table.
func report(w *os.File, files []pdfcorpus.Sample, table [][]measurement, base measurement, runs int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Measured %s on %s (%d CPUs), %s, %s/%s; each cell: outcome, median parse time of %d runs, highest peak RSS of the child process.\n",
		time.Now().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, max(1, runs))
	fmt.Fprintf(bw, "Baseline (child that only opens the file): peak RSS %s.\n\n", mb(base.rssKB<<10))
	fmt.Fprintln(bw, "| file | size | pages (qpdf) | pdfcpu v0.15.0 | time | peak RSS | digitorus/pdf v0.1.2 | time | peak RSS |")
	fmt.Fprintln(bw, "|---|---:|---:|---|---:|---:|---|---:|---:|")
	for i, f := range files {
		size := int64(0)
		if fi, err := os.Stat(f.Path); err == nil {
			size = fi.Size()
		}
		pages := fmt.Sprint(f.Pages)
		if f.Pages == 0 {
			pages = "–"
		}
		fmt.Fprintf(bw, "| %s | %s | %s |", f.Name, mb(size), pages)
		for _, m := range table[i] {
			fmt.Fprintf(bw, " %s | %s | %s |", outcome(m.res, f.Pages), ms(median(m.nanos)), mb(m.rssKB<<10))
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

// outcome renders a result against the page count qpdf found (0: the file
// is one of the broken ones and should be rejected).
func outcome(r result, want int) string {
	switch r.Status {
	case "ok":
		s := fmt.Sprintf("ok, %d p", r.Pages)
		if r.Fields > 0 {
			s += fmt.Sprintf(", %d field", r.Fields)
		}
		switch {
		case want == 0:
			return "accepted (" + s + ")"
		case r.Pages != want:
			return fmt.Sprintf("**wrong**: %d pages", r.Pages)
		}
		return s
	case "panic":
		return "**panic**: " + clip(r.Message)
	default:
		return r.Status + ": " + clip(r.Message)
	}
}

// clip shortens a message for a table cell and escapes what Markdown
// tables cannot hold.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 90 {
		s = string(r[:90]) + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(nanos int64) string {
	d := time.Duration(nanos)
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func mb(b int64) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KB", float64(b)/(1<<10))
	}
}

// cpuModel reads the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// truncateCopy copies the first num/den of src to dst.
func truncateCopy(src, dst string, num, den int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(out, in, fi.Size()*num/den); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
