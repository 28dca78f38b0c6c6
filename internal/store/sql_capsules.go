package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const capsuleCols = `id, tenant_id, job_id, name, description, language, latest_version, file_count, total_bytes, created_at, updated_at`

// capsuleSelect reads capsules (as c) with the request id of their job.
const capsuleSelect = `SELECT c.id, c.tenant_id, c.job_id, c.name, c.description, c.language, c.latest_version, c.file_count,
	c.total_bytes, c.created_at, c.updated_at, COALESCE(j.request_id, c.job_id) FROM capsules c LEFT JOIN jobs j ON j.id = c.job_id`

func scanCapsule(sc interface{ Scan(...any) error }) (Capsule, error) {
	var c Capsule
	var created, updated dbTime
	if err := sc.Scan(&c.ID, &c.TenantID, &c.JobID, &c.Name, &c.Description, &c.Language, &c.LatestVersion,
		&c.FileCount, &c.TotalBytes, &created, &updated, &c.RequestID); err != nil {
		return Capsule{}, err
	}
	c.CreatedAt, c.UpdatedAt = created.T, updated.T
	return c, nil
}

// AddCapsuleVersion implements Store. The capsule row, the version and all
// its files are written in one transaction: nothing half-written survives.
func (s *SQL) AddCapsuleVersion(ctx context.Context, c Capsule, v CapsuleVersion) error {
	now := s.now()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	var total int64
	for _, f := range v.Files {
		total += f.Size
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var latest int
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT latest_version FROM capsules WHERE id = ?`), c.ID).Scan(&latest)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if v.Version != 1 {
				return fmt.Errorf("first version of a new capsule must be 1, got %d", v.Version)
			}
			if c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO capsules (`+capsuleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				c.ID, c.TenantID, c.JobID, c.Name, c.Description, c.Language, 1, len(v.Files), total, s.t(c.CreatedAt), s.t(now)); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if v.Version != latest+1 {
				return fmt.Errorf("version %d follows %d: %w", v.Version, latest, ErrConflict)
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE capsules SET latest_version = ?, file_count = ?, total_bytes = ?, updated_at = ? WHERE id = ?`),
				v.Version, len(v.Files), total, s.t(now), c.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO capsule_versions (capsule_id, version, parent_version, message, manifest, report, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			c.ID, v.Version, v.ParentVersion, v.Message, v.Manifest, nonNilBytes(v.Report), s.t(v.CreatedAt)); err != nil {
			return err
		}
		ins := s.d.rebind(`INSERT INTO capsule_files (capsule_id, version, path, role, size, sha256, content) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		for _, f := range v.Files {
			if _, err := tx.ExecContext(ctx, ins, c.ID, v.Version, f.Path, f.Role, f.Size, f.SHA256, nonNilBytes(f.Content)); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
		}
		return nil
	})
	if err != nil {
		if s.d.isUnique(err) {
			err = fmt.Errorf("%v: %w", err, ErrConflict)
		}
		return fmt.Errorf("store: add capsule %s version %d: %w", c.ID, v.Version, err)
	}
	return nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// GetCapsule implements Store.
func (s *SQL) GetCapsule(ctx context.Context, tenantID, id string) (Capsule, error) {
	q := capsuleSelect + ` WHERE c.id = ?`
	args := []any{id}
	if tenantID != "" {
		q += ` AND c.tenant_id = ?`
		args = append(args, tenantID)
	}
	c, err := scanCapsule(s.queryRow(ctx, q, args...))
	if err != nil {
		return Capsule{}, fmt.Errorf("store: get capsule %s: %w", id, notFound(err))
	}
	return c, nil
}

// ListCapsules implements Store, newest first.
func (s *SQL) ListCapsules(ctx context.Context, tenantID string, limit, offset int) ([]Capsule, int, error) {
	var total int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM capsules WHERE tenant_id = ?`, tenantID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count capsules: %w", err)
	}
	rows, err := s.query(ctx, capsuleSelect+` WHERE c.tenant_id = ? ORDER BY c.created_at DESC, c.id DESC LIMIT ? OFFSET ?`,
		tenantID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list capsules: %w", err)
	}
	defer rows.Close()
	var out []Capsule
	for rows.Next() {
		c, err := scanCapsule(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list capsules: %w", err)
		}
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// resolveVersion checks tenant ownership and turns version 0 into the latest.
func (s *SQL) resolveVersion(ctx context.Context, tenantID, id string, version int) (int, error) {
	c, err := s.GetCapsule(ctx, tenantID, id)
	if err != nil {
		return 0, err
	}
	if version == 0 {
		return c.LatestVersion, nil
	}
	if version < 0 || version > c.LatestVersion {
		return 0, fmt.Errorf("store: capsule %s version %d: %w", id, version, ErrNotFound)
	}
	return version, nil
}

// GetCapsuleVersion implements Store.
func (s *SQL) GetCapsuleVersion(ctx context.Context, tenantID, id string, version int) (CapsuleVersion, error) {
	version, err := s.resolveVersion(ctx, tenantID, id, version)
	if err != nil {
		return CapsuleVersion{}, err
	}
	v := CapsuleVersion{CapsuleID: id, Version: version}
	var created dbTime
	err = s.queryRow(ctx, `SELECT parent_version, message, manifest, report, created_at FROM capsule_versions WHERE capsule_id = ? AND version = ?`,
		id, version).Scan(&v.ParentVersion, &v.Message, &v.Manifest, &v.Report, &created)
	if err != nil {
		return CapsuleVersion{}, fmt.Errorf("store: capsule %s version %d: %w", id, version, notFound(err))
	}
	v.CreatedAt = created.T
	rows, err := s.query(ctx, `SELECT path, role, size, sha256, content FROM capsule_files WHERE capsule_id = ? AND version = ? ORDER BY path`, id, version)
	if err != nil {
		return CapsuleVersion{}, fmt.Errorf("store: capsule %s files: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f CapsuleFile
		if err := rows.Scan(&f.Path, &f.Role, &f.Size, &f.SHA256, &f.Content); err != nil {
			return CapsuleVersion{}, fmt.Errorf("store: capsule %s files: %w", id, err)
		}
		v.Files = append(v.Files, f)
	}
	return v, rows.Err()
}

// GetCapsuleFile implements Store.
func (s *SQL) GetCapsuleFile(ctx context.Context, tenantID, id string, version int, path string) (CapsuleFile, error) {
	version, err := s.resolveVersion(ctx, tenantID, id, version)
	if err != nil {
		return CapsuleFile{}, err
	}
	f := CapsuleFile{Path: path}
	err = s.queryRow(ctx, `SELECT role, size, sha256, content FROM capsule_files WHERE capsule_id = ? AND version = ? AND path = ?`,
		id, version, path).Scan(&f.Role, &f.Size, &f.SHA256, &f.Content)
	if err != nil {
		return CapsuleFile{}, fmt.Errorf("store: capsule %s file %s: %w", id, path, notFound(err))
	}
	return f, nil
}
