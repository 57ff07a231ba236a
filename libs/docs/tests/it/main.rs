//! The documents library against real readers: poppler (`pdftotext`, `pdfinfo`, `pdffonts`,
//! `pdfimages`) for every PDF, LibreOffice converting every DOCX to PDF.
mod diff;
mod docx;
mod markdown;
mod pdf;
mod readers;
mod sample;
mod template;

/// `Result::unwrap_err` with the value it got instead in the message.
pub trait Refused<E> {
    fn refused(self) -> E;
}

impl<T: std::fmt::Debug, E> Refused<E> for Result<T, E> {
    fn refused(self) -> E {
        match self {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }
}
