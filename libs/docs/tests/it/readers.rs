//! The real readers, as child processes. A missing reader fails the test (it is installed by
//! `scripts/deps.sh`); it is never skipped.
use std::{path::Path, process::Command, time::Duration};

use anyhow::{Context as _, bail};

/// A scratch directory for one test, removed on drop.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("docs-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<std::path::PathBuf> {
        let p = self.0.join(name);
        std::fs::write(&p, bytes)?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program).args(args).output().with_context(|| {
        format!("running {program} (poppler-utils / libreoffice: scripts/deps.sh)")
    })?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `pdftotext -layout` of the whole file, or of page `page` alone.
pub fn pdftotext(pdf: &Path, page: Option<usize>) -> anyhow::Result<String> {
    let p = pdf.to_string_lossy();
    match page {
        Some(n) => {
            let n = n.to_string();
            run("pdftotext", &["-layout", "-f", &n, "-l", &n, &p, "-"])
        }
        None => run("pdftotext", &["-layout", &p, "-"]),
    }
}

/// The page count `pdfinfo` reads.
pub fn pdf_pages(pdf: &Path) -> anyhow::Result<usize> {
    let info = run("pdfinfo", &[&pdf.to_string_lossy()])?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .context("pdfinfo printed no page count")?
        .trim()
        .parse()
        .context("page count")
}

/// `pdfinfo`'s field `key` (e.g. "Title").
pub fn pdf_info(pdf: &Path, key: &str) -> anyhow::Result<Option<String>> {
    let info = run("pdfinfo", &[&pdf.to_string_lossy()])?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string()))
}

/// The fonts `pdffonts` lists: (name, embedded).
pub fn pdf_fonts(pdf: &Path) -> anyhow::Result<Vec<(String, bool)>> {
    let out = run("pdffonts", &[&pdf.to_string_lossy()])?;
    let mut fonts = Vec::new();
    for line in out.lines().skip(2) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // name type [encoding words] emb sub uni object ID: emb is the fifth column from the end.
        if cols.len() >= 6 {
            fonts.push((cols[0].to_string(), cols[cols.len() - 5] == "yes"));
        }
    }
    Ok(fonts)
}

/// How many images `pdfimages -list` finds.
pub fn pdf_images(pdf: &Path) -> anyhow::Result<usize> {
    let out = run("pdfimages", &["-list", &pdf.to_string_lossy()])?;
    Ok(out.lines().skip(2).filter(|l| !l.trim().is_empty()).count())
}

/// LibreOffice's conversion of `docx` to PDF (a fresh profile per call, so parallel tests do not
/// share one), returned as the PDF's path.
pub fn soffice_to_pdf(docx: &Path, scratch: &Scratch) -> anyhow::Result<std::path::PathBuf> {
    let profile = scratch.0.join("lo-profile");
    let out_dir = scratch.0.join("lo-out");
    let profile_arg = format!("-env:UserInstallation=file://{}", profile.display());
    let mut child = Command::new("soffice")
        .args([
            &profile_arg,
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            &out_dir.to_string_lossy(),
            &docx.to_string_lossy(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running soffice (libreoffice: scripts/deps.sh)")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "soffice failed: {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("soffice did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stem = docx
        .file_stem()
        .context("docx name")?
        .to_string_lossy()
        .into_owned();
    let pdf = out_dir.join(format!("{stem}.pdf"));
    anyhow::ensure!(pdf.exists(), "soffice wrote no {}", pdf.display());
    Ok(pdf)
}

/// Text with runs of whitespace made one space, for comparing what two readers saw.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
