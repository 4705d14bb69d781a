package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convops/convops/internal/testkit"
	"github.com/convops/convops/liveperson"
)

// TestImportLivePerson: pages of LivePerson search results, sent with
// `convops import liveperson`: the closed conversations are counted once
// however often pages overlap, open ones are skipped and counted, a
// refused page is reported with its records, and 503s are retried.
func TestImportLivePerson(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", filepath.Join(dir, "data"), "--now", testkit.NowText)
	page, err := os.ReadFile("../../liveperson/testdata/page.json")
	if err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "page-1.json")
	again := filepath.Join(dir, "page-2.json") // the same records: an overlapping export
	bad := filepath.Join(dir, "page-3.json")
	os.WriteFile(first, page, 0o600)
	os.WriteFile(again, page, 0o600)
	os.WriteFile(bad, []byte(`{"conversationHistoryRecords":[{"info":{"conversationId":"z","status":"CLOSE","endTimeL":1795784957000,"latestAgentId":"bob"}}]}`), 0o600)

	// The server refuses the first request with 503: it is sent again.
	flaky := flakyProxy(t, s.url, 1)

	out, errOut, err := runCommand(t, "import", "liveperson", "--url", flaky, "--token", testToken, "--account", "123", first, again, bad)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 files were refused") {
		t.Errorf("import: err %v", err)
	}
	if !strings.Contains(out, "3 files: 3 conversations accepted, 3 duplicates, 2 records skipped (not closed), 1 files refused") {
		t.Errorf("import summary:\n%s", out)
	}
	for _, want := range []string{"retrying in", "[1/3] " + first + ": 3 accepted, 0 duplicates, 1 skipped", "[2/3] " + again + ": 0 accepted, 3 duplicates, 1 skipped",
		"[3/3] " + bad + ": refused", "record 0: info.latestAgentId:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("no %q in the progress:\n%s", want, errOut)
		}
	}
	if _, body := s.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=60&v=1", testToken, ""); !strings.Contains(body, `"totalResolvedConversations":3,`) {
		t.Errorf("after the import: %s", body)
	}

	// A file past a request's size goes as several arrays of its records;
	// a problem names the record's place in the file.
	pages, firsts, err := splitPage([]byte(`{"conversationHistoryRecords":[` + strings.Repeat(`{"info":{"conversationId":"`+strings.Repeat("x", 1000)+`"}},`, 20000) + `{}]}`))
	if err != nil || len(pages) != 3 || firsts[1] == 0 || firsts[2] <= firsts[1] {
		t.Errorf("split: %d pages from %v, %v", len(pages), firsts, err)
	}
	for _, p := range pages {
		if len(p) > maxPageBytes {
			t.Errorf("a part of %d bytes", len(p))
		}
	}
	// A small file of more records than a request takes is split too.
	many := []byte(`[` + strings.Repeat(`{"info":{"conversationId":"c"}},`, liveperson.MaxRecords) + `{"info":{"conversationId":"c"}}]`)
	if len(many) > maxPageBytes || !tooBigForOnePage(many) {
		t.Errorf("%d records in %d bytes: split %v", liveperson.MaxRecords+1, len(many), tooBigForOnePage(many))
	}
	if pages, firsts, err := splitPage(many); err != nil || len(pages) != 2 || firsts[1] != liveperson.MaxRecords {
		t.Errorf("split by records: %d pages from %v, %v", len(pages), firsts, err)
	}
}

// TestImportShiftToNow: the sample page, older than the window, is refused
// as it is and taken with --shift-to-now by a server on the real clock, as
// the README's example runs it: the same conversations, their handling times
// unchanged, resolved in the last hour.
func TestImportShiftToNow(t *testing.T) {
	const sample = "../../liveperson/testdata/page.json"
	s := startServer(t, "--data-dir", t.TempDir())
	importCmd := func(extra ...string) (string, string, error) {
		return runCommand(t, append([]string{"import", "liveperson", "--url", s.url, "--token", testToken, "--account", "123"}, append(extra, sample)...)...)
	}
	if _, _, err := importCmd(); err == nil {
		t.Fatal("the sample page, as it is, was taken: it should be older than the 24-hour window")
	}
	out, errOut, err := importCmd("--shift-to-now")
	if err != nil || !strings.Contains(out, "1 files: 3 conversations accepted, 0 duplicates, 1 records skipped (not closed), 0 files refused") ||
		!strings.Contains(errOut, "moving the records' times by") {
		t.Fatalf("import --shift-to-now: %v\n%s%s", err, out, errOut)
	}
	_, shifted := s.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=60&v=1", testToken, "")

	// The same page at the fixed clock, unshifted, has the same numbers.
	fixed := startServer(t, "--data-dir", t.TempDir(), "--now", testkit.NowText)
	if _, _, err := runCommand(t, "import", "liveperson", "--url", fixed.url, "--token", testToken, "--account", "123", sample); err != nil {
		t.Fatal(err)
	}
	_, asIs := fixed.do(t, "GET", "/operations/api/account/123/msgconversation?timeframe=60&v=1", testToken, "")
	if metrics := func(b string) string { return b[strings.Index(b, `"metricsTotals"`):] }; metrics(shifted) != metrics(asIs) {
		t.Errorf("shifted:\n%s\nas it is, at its own time:\n%s", shifted, asIs)
	}

	// Every epoch-millisecond time moves by one amount; -1 (none) stays.
	page := []byte(`{"conversationHistoryRecords":[{"info":{"startTimeL":1000,"endTimeL":5000,"duration":4000},"interactions":[{"interactionTimeL":2000}],"agentParticipants":[{"timeL":3000}],"transfers":[{"timeL":-1}]}]}`)
	delta, err := shiftToNow([]string{"p"}, func(string) ([]byte, error) { return page, nil }, 100_000)
	if err != nil || delta != 100_000-60_000-5000 {
		t.Fatalf("delta %d, %v", delta, err)
	}
	moved, err := shiftPage(page, 10)
	want := `{"conversationHistoryRecords":[{"agentParticipants":[{"timeL":3010}],"info":{"duration":4000,"endTimeL":5010,"startTimeL":1010},"interactions":[{"interactionTimeL":2010}],"transfers":[{"timeL":-1}]}]}`
	if err != nil || string(moved) != want {
		t.Errorf("shifted page:\n%s\nwant\n%s (%v)", moved, want, err)
	}
}
