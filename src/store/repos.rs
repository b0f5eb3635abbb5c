use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{new_id, now, Repo};

pub struct NewRepo {
    pub name: String,
    pub git_url: Option<String>,
}

fn repo_from_row(row: &Row<'_>) -> rusqlite::Result<Repo> {
    Ok(Repo {
        id: row.get(0)?,
        name: row.get(1)?,
        git_url: row.get(2)?,
        created_at: row.get(3)?,
    })
}

const REPO_COLUMNS: &str = "id, name, git_url, created_at";

impl Store {
    pub fn add_repo(&mut self, new: NewRepo) -> Result<Repo> {
        self.add_repo_unless(new, |_| None)
    }

    /// Adds a repo unless its location is already registered: spelt the
    /// same, or the same repository by `same` (given a registered location,
    /// what makes it the same one as the new: see
    /// `workspace::repository_identity`). Checked in the transaction of the
    /// insert, so two racing adds cannot both pass.
    pub fn add_repo_unless(
        &mut self,
        new: NewRepo,
        same: impl Fn(&str) -> Option<String>,
    ) -> Result<Repo> {
        let repo = Repo {
            id: new_id(),
            name: new.name,
            git_url: new.git_url,
            created_at: now(),
        };
        let path = self.path.clone();
        self.write(|tx| {
            let taken: Option<String> = tx
                .query_row("SELECT id FROM repos WHERE name = ?1", [&repo.name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| super::db_error(&path, "read", e))?;
            if taken.is_some() {
                return Err(Error::conflict(format!(
                    "a repo named '{}' already exists",
                    repo.name
                ))
                .with_hint(
                    "choose another name with --name, or remove the old one with `m repo rm`",
                ));
            }
            // One repository under two names would get two active runs at
            // once, defeating the one-active-run-per-repo rule.
            if let Some(location) = &repo.git_url {
                let holder: Option<String> = tx
                    .query_row(
                        "SELECT name FROM repos WHERE git_url = ?1",
                        [location],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| super::db_error(&path, "read", e))?;
                if let Some(holder) = holder {
                    return Err(Error::conflict(format!(
                        "{location} is already registered, as repo '{holder}'"
                    ))
                    .with_hint(format!(
                        "use that name (`m run start -r {holder} ...`); to rename it, \
                         remove it with `m repo rm {holder}` and add it again with --name"
                    )));
                }
            }
            if let Some(location) = &repo.git_url {
                let mut stmt = tx
                    .prepare("SELECT name, git_url FROM repos WHERE git_url IS NOT NULL")
                    .map_err(|e| super::db_error(&path, "read", e))?;
                let registered = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(|e| super::db_error(&path, "read", e))?;
                for (holder, other) in registered {
                    if let Some(why) = same(&other) {
                        return Err(Error::conflict(format!(
                            "{location} is the repository already registered as repo '{holder}' ({other}): {why}"
                        ))
                        .with_hint(format!(
                            "use that name (`m run start -r {holder} ...`); one repository has one name, \
                             or two runs at once would share its branches"
                        )));
                    }
                }
            }
            tx.execute(
                "INSERT INTO repos (id, name, git_url, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![repo.id, repo.name, repo.git_url, repo.created_at],
            )
            .map_err(|e| super::db_error(&path, "write to", e))?;
            Ok(())
        })?;
        Ok(repo)
    }

    pub fn list_repos(&self) -> Result<Vec<Repo>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {REPO_COLUMNS} FROM repos ORDER BY name"))
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([], repo_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    pub fn get_repo(&self, id: &str) -> Result<Repo> {
        self.conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE id = ?1"),
                [id],
                repo_from_row,
            )
            .optional()
            .map_err(|e| self.error("read", e))?
            .ok_or_else(|| Error::not_found(format!("no repo with id '{id}'")))
    }

    /// A repo by its name, or else by a unique prefix of its id.
    pub fn find_repo(&self, name_or_id: &str) -> Result<Repo> {
        let by_name = self
            .conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE name = ?1"),
                [name_or_id],
                repo_from_row,
            )
            .optional()
            .map_err(|e| self.error("read", e))?;
        if let Some(repo) = by_name {
            return Ok(repo);
        }
        match self.find_prefix("repos", "repo", name_or_id) {
            Ok(id) => self.get_repo(&id),
            Err(e) if e.kind == crate::error::ErrorKind::NotFound => {
                Err(Error::not_found(format!("no repo named '{name_or_id}'"))
                    .with_hint("list repos with `m repo list`, or add one with `m repo add PATH`"))
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a repo. Refused while it has an active or queued run; with past runs it
    /// needs `force`, and then their events and approvals go in the same
    /// transaction.
    pub fn remove_repo(&mut self, repo: &Repo, force: bool) -> Result<usize> {
        let path = self.path.clone();
        let db = |e| super::db_error(&path, "write to", e);
        self.write(|tx| {
            let active: Option<String> = tx
                .query_row(super::lifecycle::ACTIVE_RUN_SQL, [&repo.id], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if let Some(run) = active {
                return Err(Error::conflict(format!(
                    "repo '{}' has an active run {}",
                    repo.name,
                    crate::model::short_id(&run)
                ))
                .with_hint(format!(
                    "cancel it first: `m run cancel {}`",
                    crate::model::short_id(&run)
                )));
            }
            let queued = super::queue::queued_count_tx(tx, &repo.id).map_err(db)?;
            if queued > 0 {
                return Err(Error::conflict(format!(
                    "repo '{}' has {queued} queued run(s)",
                    repo.name
                ))
                .with_hint(
                    "cancel them first (`m run list --state queued` lists them, \
                     `m run cancel RUN` removes one from the queue)",
                ));
            }
            let runs: i64 = tx
                .query_row(
                    "SELECT count(*) FROM runs WHERE repo_id = ?1",
                    [&repo.id],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if runs > 0 && !force {
                return Err(Error::conflict(format!(
                    "repo '{}' has {runs} past run(s)",
                    repo.name
                ))
                .with_hint("add --force to remove the repo with its runs, events and approvals"));
            }
            for sql in [
                "DELETE FROM approval_decisions WHERE approval_id IN (SELECT a.id FROM approvals a
                   JOIN runs r ON r.id = a.run_id WHERE r.repo_id = ?1)",
                "DELETE FROM approvals WHERE run_id IN (SELECT id FROM runs WHERE repo_id = ?1)",
                "DELETE FROM events WHERE run_id IN (SELECT id FROM runs WHERE repo_id = ?1)",
                "DELETE FROM run_details WHERE run_id IN (SELECT id FROM runs WHERE repo_id = ?1)",
                "DELETE FROM run_usage WHERE run_id IN (SELECT id FROM runs WHERE repo_id = ?1)",
                "DELETE FROM repo_usage WHERE repo_id = ?1",
                "DELETE FROM runs WHERE repo_id = ?1",
                "DELETE FROM repos WHERE id = ?1",
            ] {
                tx.execute(sql, [&repo.id]).map_err(db)?;
            }
            Ok(runs as usize)
        })
    }
}
