// Command trivy-test-db builds offline Trivy databases from YAML test fixtures, the way Trivy's
// own integration tests build theirs (bolt-fixtures into a bolt file, trivy-db's metadata.json),
// with the trivy-db and trivy-java-db versions that Trivy v0.74.0 pins. Every input, the dates
// included, comes from the command line, so the same fixtures always give the same bytes.
//
//	trivy-test-db vuln -o DIR --updated-at T --next-update T FIXTURE...  # DIR/trivy.db, DIR/metadata.json
//	trivy-test-db java -o DIR --updated-at T --next-update T             # DIR/trivy-java.db, DIR/metadata.json
//
// FIXTURE is a YAML file or a folder of them (read in name order); later ones add to earlier ones.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	javadb "github.com/aquasecurity/trivy-java-db/pkg/db"
	yaml "github.com/goccy/go-yaml"
	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite" // the "sqlite" driver trivy-java-db opens, as Trivy links it
)

const (
	vulnerabilityBucket = "vulnerability"
	dataSourceBucket    = "data-source"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "trivy-test-db: %v\n", err)
		os.Exit(1)
	}
}

func usage() error {
	return errors.New("usage: trivy-test-db (vuln|java) -o DIR --updated-at RFC3339 --next-update RFC3339 [FIXTURE...]")
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	out := fs.String("o", "", "output folder")
	updatedAt := fs.String("updated-at", "", "UpdatedAt of metadata.json (RFC 3339)")
	nextUpdate := fs.String("next-update", "", "NextUpdate of metadata.json (RFC 3339)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" || *updatedAt == "" || *nextUpdate == "" {
		return usage()
	}
	updated, err := time.Parse(time.RFC3339, *updatedAt)
	if err != nil {
		return fmt.Errorf("--updated-at: %w", err)
	}
	next, err := time.Parse(time.RFC3339, *nextUpdate)
	if err != nil {
		return fmt.Errorf("--next-update: %w", err)
	}
	switch cmd {
	case "vuln":
		if fs.NArg() == 0 {
			return errors.New("vuln: at least one fixture file or folder is required")
		}
		return buildVulnDB(*out, fs.Args(), updated.UTC(), next.UTC())
	case "java":
		if fs.NArg() != 0 {
			return errors.New("java: takes no fixtures (the Java DB is built empty)")
		}
		return buildJavaDB(*out, updated.UTC(), next.UTC())
	default:
		return usage()
	}
}

// fixtureFiles expands folders into their *.yaml files, in name order, keeping argument order.
func fixtureFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(arg, "*.yaml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	if len(files) == 0 {
		return nil, errors.New("no fixture files found")
	}
	return files, nil
}

func buildVulnDB(out string, args []string, updated, next time.Time) error {
	files, err := fixtureFiles(args)
	if err != nil {
		return err
	}
	idx, err := checkFixtures(files)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dbPath := trivydb.Path(out)
	// Loading writes pages copy-on-write; compacting into a fresh file, as trivy-db's release
	// does (`bbolt compact`), gives a small file.
	loaded := dbPath + ".load"
	for _, p := range []string{dbPath, loaded} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	loader, err := fixtures.New(loaded, files)
	if err != nil {
		return fmt.Errorf("open %s: %w", loaded, err)
	}
	if err := loader.Load(); err != nil {
		_ = loader.Close()
		return fmt.Errorf("load fixtures: %w", err)
	}
	if err := loader.Close(); err != nil {
		return err
	}
	if err := compact(loaded, dbPath); err != nil {
		return err
	}
	if err := os.Remove(loaded); err != nil {
		return err
	}
	if err := readBack(out, idx); err != nil {
		return err
	}
	meta := metadata.Metadata{Version: trivydb.SchemaVersion, UpdatedAt: updated, NextUpdate: next}
	if err := metadata.NewClient(out).Update(meta); err != nil {
		return fmt.Errorf("write metadata.json: %w", err)
	}
	fmt.Printf("%s\n%s\n", dbPath, metadata.Path(out))
	return nil
}

func compact(src, dst string) error {
	from, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := bolt.Open(dst, 0o644, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistArrayType})
	if err != nil {
		return err
	}
	// One key a transaction: bbolt spills the child buckets a transaction touched in map order,
	// so pages would land in a different order each run if one transaction touched several.
	if err := bolt.Compact(to, from, 1); err != nil {
		_ = to.Close()
		return fmt.Errorf("compact: %w", err)
	}
	return to.Close()
}

// fixtureIndex is what the fixtures declare, for the read-back check.
type fixtureIndex struct {
	advisories map[[2]string][]string // {platform bucket, package} -> vulnerability IDs
	vulnIDs    map[string]bool
	sources    map[string]bool
}

// checkFixtures decodes every value into the trivy-db type Trivy reads it as, so a misspelt
// field fails the build instead of silently vanishing from Trivy's output.
func checkFixtures(files []string) (fixtureIndex, error) {
	idx := fixtureIndex{advisories: map[[2]string][]string{}, vulnIDs: map[string]bool{}, sources: map[string]bool{}}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return idx, err
		}
		var top []fixtures.Fixture
		if err := yaml.Unmarshal(raw, &top); err != nil {
			return idx, fmt.Errorf("%s: %w", file, err)
		}
		for _, bkt := range top {
			where := fmt.Sprintf("%s: bucket %q", file, bkt.Bucket)
			switch bkt.Bucket {
			case "":
				return idx, fmt.Errorf("%s: a top-level entry has no bucket", file)
			case vulnerabilityBucket:
				for _, p := range bkt.Pairs {
					if err := checkValue(p.Value, &dbtypes.Vulnerability{}); err != nil {
						return idx, fmt.Errorf("%s, key %q: %w", where, p.Key, err)
					}
					idx.vulnIDs[p.Key] = true
				}
			case dataSourceBucket:
				for _, p := range bkt.Pairs {
					if err := checkValue(p.Value, &dbtypes.DataSource{}); err != nil {
						return idx, fmt.Errorf("%s, key %q: %w", where, p.Key, err)
					}
					idx.sources[p.Key] = true
				}
			default:
				for _, pkg := range bkt.Pairs {
					if pkg.Bucket == "" {
						return idx, fmt.Errorf("%s: expected package buckets, found key %q", where, pkg.Key)
					}
					for _, adv := range pkg.Pairs {
						if adv.Key == "" {
							return idx, fmt.Errorf("%s, package %q: nested buckets are not advisories", where, pkg.Bucket)
						}
						if err := checkValue(adv.Value, &dbtypes.Advisory{}); err != nil {
							return idx, fmt.Errorf("%s, package %q, key %q: %w", where, pkg.Bucket, adv.Key, err)
						}
						k := [2]string{bkt.Bucket, pkg.Bucket}
						idx.advisories[k] = append(idx.advisories[k], adv.Key)
					}
				}
			}
		}
	}
	for k, ids := range idx.advisories {
		if !idx.sources[k[0]] {
			return idx, fmt.Errorf("bucket %q has no data-source entry (Trivy would report no data source and guess severities)", k[0])
		}
		for _, id := range ids {
			if !idx.vulnIDs[id] {
				return idx, fmt.Errorf("%s in %q/%q has no vulnerability entry (Trivy would report it UNKNOWN)", id, k[0], k[1])
			}
		}
	}
	return idx, nil
}

// checkValue round-trips a fixture value through its trivy-db type: a key that does not come
// back is a field the type does not have (or a zero value, which a fixture has no reason to set).
func checkValue(value any, into any) error {
	if _, ok := value.(map[string]any); !ok {
		return fmt.Errorf("value must be a mapping, got %T", value)
	}
	in, err := json.Marshal(value)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(in, into); err != nil {
		return err
	}
	back, err := json.Marshal(into)
	if err != nil {
		return err
	}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal(in, &before); err != nil {
		return err
	}
	if err := json.Unmarshal(back, &after); err != nil {
		return err
	}
	var lost []string
	for k := range before {
		if _, ok := after[k]; !ok {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return fmt.Errorf("unknown or empty fields %s for %T", strings.Join(lost, ", "), into)
	}
	return nil
}

// readBack opens the written file the way Trivy does (trivy-db's pkg/db, read-only) and reads
// every advisory and vulnerability through trivy-db's own getters.
func readBack(dir string, idx fixtureIndex) error {
	if err := trivydb.Init(dir, trivydb.WithBoltOptions(&bolt.Options{ReadOnly: true})); err != nil {
		return fmt.Errorf("open the written DB: %w", err)
	}
	defer trivydb.Close()
	dbc := trivydb.Config{}
	for k, ids := range idx.advisories {
		advisories, err := dbc.GetAdvisories(k[0], k[1])
		if err != nil {
			return fmt.Errorf("read back %q/%q: %w", k[0], k[1], err)
		}
		if len(advisories) != len(dedupe(ids)) {
			return fmt.Errorf("read back %q/%q: %d advisories, fixtures have %d", k[0], k[1], len(advisories), len(dedupe(ids)))
		}
		for _, a := range advisories {
			if a.DataSource == nil || a.DataSource.ID == "" {
				return fmt.Errorf("read back %q/%q %s: no data source", k[0], k[1], a.VulnerabilityID)
			}
		}
	}
	for id := range idx.vulnIDs {
		v, err := dbc.GetVulnerability(id)
		if err != nil {
			return fmt.Errorf("read back vulnerability %s: %w", id, err)
		}
		if v.Title == "" || len(v.VendorSeverity) == 0 {
			return fmt.Errorf("vulnerability %s needs a Title and a VendorSeverity", id)
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

// buildJavaDB writes a valid Java DB with no entries: Trivy's JAR analyzer must open one (it
// downloads it otherwise, and fails the scan when it cannot), but a JAR that carries
// META-INF/maven/**/pom.properties is identified without any lookup in it.
func buildJavaDB(out string, updated, next time.Time) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dbFile := filepath.Join(out, "trivy-java.db")
	if err := os.Remove(dbFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	jdb, err := javadb.New(out)
	if err != nil {
		return err
	}
	if err := jdb.Init(); err != nil {
		_ = jdb.Close()
		return err
	}
	if err := jdb.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(dbFile); err != nil {
		return fmt.Errorf("trivy-java-db wrote no %s: %w", dbFile, err)
	}
	meta := javadb.Metadata{Version: javadb.SchemaVersion, UpdatedAt: updated, NextUpdate: next}
	metac := javadb.NewMetadata(out)
	if err := metac.Update(meta); err != nil {
		return fmt.Errorf("write metadata.json: %w", err)
	}
	// Trivy reads it back with this client; fail here rather than in a scan.
	got, err := metac.Get()
	if err != nil || got.Version != javadb.SchemaVersion {
		return fmt.Errorf("read back metadata.json: %v (version %d)", err, got.Version)
	}
	fmt.Printf("%s\n%s\n", dbFile, filepath.Join(out, "metadata.json"))
	return nil
}
